//! Layered key maps, in the style of yazi.
//!
//! A key map is a TOML file with one table per [`Layer`], each holding a `keymap` array of bindings:
//!
//! ```toml
//! [tree]
//! keymap = [
//!   { on = ["j"], run = "down", desc = "Next branch" },
//!   { on = ["g", "g"], run = "first", desc = "First branch" },
//! ]
//! ```
//!
//! The built-in maps (`keymaps/default.toml`, `keymaps/emacs.toml`) are compiled in. A user's `keymap.toml`
//! is merged over one of them: per layer, `prepend_keymap` bindings win over the built-in ones (one with the
//! same key sequence replaces it), `append_keymap` bindings come after them, a whole `keymap` replaces the
//! layer, and `run = "noop"` unbinds a key sequence.

pub use super::key::Key;

use super::action::Action;
use crate::config::located::Located;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

const DEFAULT_TOML: &str = include_str!("../../keymaps/default.toml");
const EMACS_TOML: &str = include_str!("../../keymaps/emacs.toml");

/// Where keys are interpreted: the focused pane, or an overlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Global,
    Tree,
    Stream,
    Evidence,
    Causes,
    Composer,
    Confirm,
    Help,
    /// The full view of one node.
    Detail,
    /// The firing alerts the cockpit opens on, and the insights shown from there.
    Alerts,
}

impl Layer {
    pub const ALL: [Layer; 10] = [
        Layer::Global,
        Layer::Tree,
        Layer::Stream,
        Layer::Evidence,
        Layer::Causes,
        Layer::Composer,
        Layer::Confirm,
        Layer::Help,
        Layer::Detail,
        Layer::Alerts,
    ];

    /// The layer's table name in a key map file.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Global => "global",
            Layer::Tree => "tree",
            Layer::Stream => "stream",
            Layer::Evidence => "evidence",
            Layer::Causes => "causes",
            Layer::Composer => "composer",
            Layer::Confirm => "confirm",
            Layer::Help => "help",
            Layer::Detail => "detail",
            Layer::Alerts => "alerts",
        }
    }

    fn from_name(name: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether bindings of the `global` layer apply here.
    fn inherits_global(self) -> bool {
        !matches!(
            self,
            Layer::Global | Layer::Composer | Layer::Confirm | Layer::Detail | Layer::Alerts
        )
    }
}

/// A key sequence bound to an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub on: Vec<Key>,
    pub run: Action,
    pub desc: String,
}

impl Binding {
    fn is_noop(&self) -> bool {
        self.run == Action::Noop
    }
}

/// What the keys typed so far mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A complete binding: run its action.
    Run(&'a Binding),
    /// The start of a longer key sequence: wait for the next key.
    Prefix,
    /// Nothing (or unbound with "noop").
    None,
}

/// Key bindings of every layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    layers: Vec<Vec<Binding>>,
}

impl Keymap {
    fn empty() -> Keymap {
        Keymap {
            layers: vec![Vec::new(); Layer::ALL.len()],
        }
    }

    /// Built-in map by name: "default" or "emacs" (compiled in with include_str! from keymaps/).
    pub fn builtin(name: &str) -> Option<Keymap> {
        let (text, path) = match name {
            "default" => (DEFAULT_TOML, "keymaps/default.toml"),
            "emacs" => (EMACS_TOML, "keymaps/emacs.toml"),
            _ => return None,
        };
        Keymap::parse(text, path).ok()
    }

    /// The built-in `name`, with the user's `keymap.toml` from `user_dir` (if the file exists) merged over it.
    /// Never fails: problems come back as messages ("path:line: what was expected"), and what could not be read
    /// is left at the defaults.
    pub fn load(name: &str, user_dir: Option<&Path>) -> (Keymap, Vec<String>) {
        let mut messages = Vec::new();
        let mut map = match Keymap::builtin(name) {
            Some(map) => map,
            None => {
                messages.push(format!(
                    "unknown key map \"{name}\": expected \"default\" or \"emacs\"; using \"default\""
                ));
                Keymap::builtin("default").unwrap_or_else(Keymap::empty)
            }
        };
        if let Some(dir) = user_dir {
            let path = dir.join("keymap.toml");
            if path.is_file() {
                let shown = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let (patch, errors) = parse_patch(&text, &shown);
                        messages.extend(errors);
                        map.apply(patch);
                    }
                    Err(e) => messages.push(format!("{shown}: cannot read: {e}")),
                }
            }
        }
        (map, messages)
    }

    /// Parses a map from text; `path` is only for messages.
    pub fn parse(text: &str, path: &str) -> Result<Keymap, String> {
        let (patch, errors) = parse_patch(text, path);
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let mut map = Keymap::empty();
        map.apply(patch);
        Ok(map)
    }

    fn apply(&mut self, patch: Vec<(Layer, LayerPatch)>) {
        for (layer, p) in patch {
            let list = &mut self.layers[layer.index()];
            if let Some(keymap) = p.keymap {
                *list = keymap;
            }
            if !p.prepend.is_empty() {
                list.retain(|b| !p.prepend.iter().any(|q| q.on == b.on));
                let rest = std::mem::replace(list, p.prepend);
                list.extend(rest);
            }
            for b in p.append {
                if !list.iter().any(|q| q.on == b.on) {
                    list.push(b);
                }
            }
        }
    }

    fn search<'a>(list: &'a [Binding], keys: &[Key]) -> Option<Lookup<'a>> {
        if let Some(b) = list.iter().find(|b| b.on == keys) {
            return Some(if b.is_noop() { Lookup::None } else { Lookup::Run(b) });
        }
        if list
            .iter()
            .any(|b| !b.is_noop() && b.on.len() > keys.len() && b.on.starts_with(keys))
        {
            return Some(Lookup::Prefix);
        }
        None
    }

    /// What the keys typed so far in `layer` mean (the layer first; bindings in the `global` layer apply in
    /// every layer except `composer`, `confirm`).
    pub fn lookup(&self, layer: Layer, keys: &[Key]) -> Lookup<'_> {
        if keys.is_empty() {
            return Lookup::None;
        }
        Keymap::search(&self.layers[layer.index()], keys)
            .or_else(|| {
                if layer.inherits_global() {
                    Keymap::search(&self.layers[Layer::Global.index()], keys)
                } else {
                    None
                }
            })
            .unwrap_or(Lookup::None)
    }

    /// The bindings of a layer, in file order, without unbound ("noop") ones, for the help overlay.
    pub fn bindings(&self, layer: Layer) -> Vec<&Binding> {
        let list = &self.layers[layer.index()];
        list.iter()
            .enumerate()
            .filter(|(i, b)| !b.is_noop() && !list[..*i].iter().any(|q| q.on == b.on))
            .map(|(_, b)| b)
            .collect()
    }

    /// The first key sequence bound to `run` in `layer` (or global), as text, for hints: e.g. "x".
    pub fn hint(&self, layer: Layer, run: Action) -> Option<String> {
        let own = self.layers[layer.index()].iter();
        let global = if layer.inherits_global() {
            self.layers[Layer::Global.index()].iter()
        } else {
            [].iter()
        };
        own.chain(global)
            .filter(|b| b.run == run)
            // Only a binding that is not shadowed by another one.
            .find(|b| matches!(self.lookup(layer, &b.on), Lookup::Run(x) if x.run == run))
            .map(|b| b.on.iter().map(Key::to_string).collect())
    }
}

#[derive(Default)]
struct LayerPatch {
    keymap: Option<Vec<Binding>>,
    prepend: Vec<Binding>,
    append: Vec<Binding>,
}

const EXPECTED_BINDING: &str = "expected a binding like { on = [\"j\"], run = \"down\", desc = \"Next\" }";

/// Reads a key map file into per-layer changes, skipping (with a message) whatever is wrong.
fn parse_patch(text: &str, path: &str) -> (Vec<(Layer, LayerPatch)>, Vec<String>) {
    let ctx = Located { text, path };
    let mut errors = Vec::new();
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            errors.push(ctx.at(span, format!("invalid TOML: {message}")));
            return (Vec::new(), errors);
        }
    };
    let mut patch = Vec::new();
    for (name, value) in doc.get_ref() {
        let Some(layer) = Layer::from_name(name.get_ref()) else {
            let names: Vec<&str> = Layer::ALL.iter().map(|l| l.name()).collect();
            errors.push(ctx.at(
                name.span(),
                format!(
                    "unknown layer \"{}\": expected one of {}",
                    name.get_ref(),
                    names.join(", ")
                ),
            ));
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            errors.push(ctx.at(
                value.span(),
                format!(
                    "expected a table [{}] with keymap, prepend_keymap or append_keymap",
                    layer.name()
                ),
            ));
            continue;
        };
        let mut p = LayerPatch::default();
        for (field, list) in table {
            let field_name: &str = field.get_ref();
            if !matches!(field_name, "keymap" | "prepend_keymap" | "append_keymap") {
                errors.push(ctx.at(
                    field.span(),
                    format!(
                        "unknown field \"{field_name}\" in [{}]: expected keymap, prepend_keymap or append_keymap",
                        layer.name()
                    ),
                ));
                continue;
            }
            let DeValue::Array(items) = list.get_ref() else {
                errors.push(ctx.at(
                    list.span(),
                    format!("{field_name} must be an array: {EXPECTED_BINDING}"),
                ));
                continue;
            };
            let mut good = Vec::new();
            let mut failed = false;
            for item in items.iter() {
                match parse_binding(&ctx, layer, item) {
                    Ok(b) => good.push(b),
                    Err(e) => {
                        errors.push(e);
                        failed = true;
                    }
                }
            }
            match field_name {
                // A replacement layer with a mistake in it would lose bindings: keep the built-in layer.
                "keymap" if !failed => p.keymap = Some(good),
                "keymap" => {}
                "prepend_keymap" => p.prepend = good,
                _ => p.append = good,
            }
        }
        patch.push((layer, p));
    }
    (patch, errors)
}

fn parse_binding(ctx: &Located<'_>, layer: Layer, item: &Spanned<DeValue<'_>>) -> Result<Binding, String> {
    let DeValue::Table(table) = item.get_ref() else {
        return Err(ctx.at(item.span(), EXPECTED_BINDING));
    };
    let (mut on, mut run, mut desc) = (None, None, None);
    for (field, value) in table {
        let string = |v: &Spanned<DeValue<'_>>| match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            other => Err(ctx.at(
                v.span(),
                format!("\"{}\" must be a string, not {}", field.get_ref(), other.type_str()),
            )),
        };
        match &**field.get_ref() {
            "on" => {
                let keys: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
                    DeValue::Array(a) => a.iter().collect(),
                    DeValue::String(_) => vec![value],
                    other => {
                        return Err(ctx.at(
                            value.span(),
                            format!(
                                "\"on\" must be an array of keys like [\"g\", \"g\"], not {}",
                                other.type_str()
                            ),
                        ));
                    }
                };
                let mut seq = Vec::new();
                for k in keys {
                    let text = string(k)?;
                    seq.push(Key::parse(&text).map_err(|e| ctx.at(k.span(), e))?);
                }
                if seq.is_empty() {
                    return Err(ctx.at(value.span(), "\"on\" is empty: expected at least one key"));
                }
                on = Some(seq);
            }
            "run" => {
                let name = string(value)?;
                let known = |a: Action, l: Layer| Action::in_layer(l).contains(&a);
                match Action::from_name(&name) {
                    Some(a) if a == Action::Noop || known(a, layer) || known(a, Layer::Global) => run = Some(a),
                    _ => {
                        let names: Vec<&str> = Action::in_layer(layer).iter().map(|a| a.name()).collect();
                        return Err(ctx.at(
                            value.span(),
                            format!(
                                "unknown action \"{name}\" in [{}]: expected one of {}, or noop to unbind",
                                layer.name(),
                                names.join(", ")
                            ),
                        ));
                    }
                }
            }
            "desc" => desc = Some(string(value)?),
            other => {
                return Err(ctx.at(
                    field.span(),
                    format!("unknown field \"{other}\" in a binding: expected on, run or desc"),
                ));
            }
        }
    }
    let on = on.ok_or_else(|| ctx.at(item.span(), format!("binding without \"on\": {EXPECTED_BINDING}")))?;
    let run = run.ok_or_else(|| ctx.at(item.span(), format!("binding without \"run\": {EXPECTED_BINDING}")))?;
    let desc = desc.unwrap_or_else(|| run.name().replace('_', " "));
    Ok(Binding { on, run, desc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    fn keys(list: &[&str]) -> Vec<Key> {
        list.iter().map(|s| key(s)).collect()
    }

    fn run_of<'a>(l: Lookup<'a>) -> Option<&'a str> {
        match l {
            Lookup::Run(b) => Some(b.run.name()),
            _ => None,
        }
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("inquest-keymap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn lookup_single_keys_and_chords() {
        let map = Keymap::builtin("default").unwrap();
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["j"]))), Some("down"));
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["<Down>"]))), Some("down"));
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["x"]))), Some("prune"));
        assert_eq!(map.lookup(Layer::Tree, &keys(&["g"])), Lookup::Prefix);
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["g", "g"]))), Some("first"));
        assert_eq!(map.lookup(Layer::Tree, &keys(&["g", "j"])), Lookup::None);
        assert_eq!(map.lookup(Layer::Tree, &keys(&["Z"])), Lookup::None);
        assert_eq!(map.lookup(Layer::Tree, &[]), Lookup::None);
        assert_eq!(run_of(map.lookup(Layer::Stream, &keys(&["<C-d>"]))), Some("page_down"));

        let emacs = Keymap::builtin("emacs").unwrap();
        assert_eq!(emacs.lookup(Layer::Tree, &keys(&["<C-x>"])), Lookup::Prefix);
        assert_eq!(
            run_of(emacs.lookup(Layer::Tree, &keys(&["<C-x>", "<C-c>"]))),
            Some("quit")
        );
        assert_eq!(run_of(emacs.lookup(Layer::Stream, &keys(&["<C-n>"]))), Some("down"));
    }

    #[test]
    fn global_falls_through_except_in_composer_and_confirm() {
        let map = Keymap::builtin("default").unwrap();
        for layer in [
            Layer::Tree,
            Layer::Stream,
            Layer::Evidence,
            Layer::Causes,
            Layer::Global,
        ] {
            assert_eq!(run_of(map.lookup(layer, &keys(&["q"]))), Some("quit"), "{layer:?}");
            assert_eq!(
                run_of(map.lookup(layer, &keys(&["<Tab>"]))),
                Some("focus_next"),
                "{layer:?}"
            );
        }
        // The layer wins over global.
        assert_eq!(run_of(map.lookup(Layer::Help, &keys(&["q"]))), Some("close"));
        assert_eq!(run_of(map.lookup(Layer::Help, &keys(&["<Tab>"]))), Some("focus_next"));
        for layer in [Layer::Composer, Layer::Confirm] {
            assert_eq!(map.lookup(layer, &keys(&["q"])), Lookup::None, "{layer:?}");
            assert_eq!(map.lookup(layer, &keys(&["1"])), Lookup::None, "{layer:?}");
        }
        assert_eq!(
            run_of(map.lookup(Layer::Composer, &keys(&["<A-Enter>"]))),
            Some("newline")
        );
        assert_eq!(map.hint(Layer::Tree, Action::Quit).as_deref(), Some("q"));
        assert_eq!(map.hint(Layer::Tree, Action::Prune).as_deref(), Some("x"));
        assert_eq!(map.hint(Layer::Tree, Action::First).as_deref(), Some("gg"));
        assert_eq!(map.hint(Layer::Composer, Action::Quit), None);
        // "q" is shadowed in help: no hint for quit there.
        assert_eq!(map.hint(Layer::Help, Action::Quit), None);
    }

    #[test]
    fn user_file_rebinds_and_unbinds() {
        let dir = temp_dir("rebind");
        std::fs::write(
            dir.join("keymap.toml"),
            r#"
[tree]
prepend_keymap = [
  { on = ["d"], run = "prune", desc = "Prune" },
  { on = ["x"], run = "noop" },
  { on = ["f"], run = "noop" },
]
append_keymap = [
  { on = ["<C-f>"], run = "fork", desc = "Fork" },
  { on = ["j"], run = "up", desc = "shadowed by the built-in j" },
]

[help]
keymap = [{ on = ["<Esc>"], run = "close", desc = "Close" }]
"#,
        )
        .unwrap();
        let (map, messages) = Keymap::load("default", Some(&dir));
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["d"]))), Some("prune"));
        assert_eq!(map.lookup(Layer::Tree, &keys(&["x"])), Lookup::None);
        assert_eq!(map.lookup(Layer::Tree, &keys(&["f"])), Lookup::None);
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["<C-f>"]))), Some("fork"));
        assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["j"]))), Some("down"));
        assert_eq!(map.hint(Layer::Tree, Action::Prune).as_deref(), Some("d"));
        assert_eq!(map.hint(Layer::Tree, Action::Fork).as_deref(), Some("<C-f>"));
        let tree = map.bindings(Layer::Tree);
        assert!(tree.iter().all(|b| b.run != Action::Noop));
        assert_eq!(tree.iter().filter(|b| b.on == keys(&["j"])).count(), 1);
        assert_eq!(tree[0].on, keys(&["d"]));
        // A whole-layer keymap replaces the layer.
        assert_eq!(map.bindings(Layer::Help).len(), 1);
        assert_eq!(run_of(map.lookup(Layer::Help, &keys(&["q"]))), Some("quit"));
        // Other layers are untouched.
        assert_eq!(run_of(map.lookup(Layer::Stream, &keys(&["j"]))), Some("down"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_user_files_give_located_messages_and_keep_defaults() {
        let defaults = Keymap::builtin("default").unwrap();
        let cases: &[(&str, &str, usize, &str)] = &[
            (
                "syntax",
                "[tree]\nprepend_keymap = [\n  { on = [\"d\"], run = \"prune\" \n",
                3,
                "invalid TOML",
            ),
            (
                "layer",
                "[tree]\nprepend_keymap = [{ on = [\"d\"], run = \"prune\" }]\n\n[trees]\nkeymap = []\n",
                4,
                "unknown layer \"trees\"",
            ),
            (
                "key",
                "[tree]\nprepend_keymap = [\n  { on = [\"d\"], run = \"prune\" },\n  { on = [\"<Ctrl-x>\"], run = \"fork\" },\n]\n",
                4,
                "bad key \"<Ctrl-x>\"",
            ),
            (
                "field",
                "[tree]\nprepend_keymap = [\n  { on = [\"d\"], run = \"prune\", descr = \"x\" },\n]\n",
                3,
                "unknown field \"descr\"",
            ),
            (
                "action",
                "[tree]\nkeymap = [\n  { on = [\"d\"], run = \"prnue\" },\n]\n",
                3,
                "unknown action \"prnue\"",
            ),
        ];
        for (tag, text, line, what) in cases {
            let dir = temp_dir(tag);
            let path = dir.join("keymap.toml");
            std::fs::write(&path, text).unwrap();
            let (map, messages) = Keymap::load("default", Some(&dir));
            let prefix = format!("{}:{line}: ", path.display());
            assert_eq!(messages.len(), 1, "{tag}: {messages:?}");
            assert!(
                messages[0].starts_with(&prefix),
                "{tag}: {messages:?} should start with {prefix}"
            );
            assert!(messages[0].contains(what), "{tag}: {messages:?}");
            assert!(messages[0].contains("expected"), "{tag}: {messages:?}");
            // The defaults still work.
            assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["x"]))), Some("prune"), "{tag}");
            assert_eq!(
                run_of(map.lookup(Layer::Tree, &keys(&["g", "g"]))),
                Some("first"),
                "{tag}"
            );
            assert_eq!(map.bindings(Layer::Stream), defaults.bindings(Layer::Stream), "{tag}");
            // What was right in the file still applies.
            if matches!(*tag, "layer" | "key") {
                assert_eq!(run_of(map.lookup(Layer::Tree, &keys(&["d"]))), Some("prune"), "{tag}");
            }
            assert!(Keymap::parse(text, "k.toml").is_err());
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let (map, messages) = Keymap::load("vi", None);
        assert_eq!(messages.len(), 1);
        assert_eq!(map, defaults);
        let (map, messages) = Keymap::load("emacs", Some(Path::new("/nonexistent/inquest")));
        assert!(messages.is_empty());
        assert_eq!(Some(map), Keymap::builtin("emacs"));
    }

    #[test]
    fn builtin_maps_parse_and_bind_every_action() {
        assert!(Keymap::builtin("nope").is_none());
        for (name, text) in [("default", DEFAULT_TOML), ("emacs", EMACS_TOML)] {
            Keymap::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            let map = Keymap::builtin(name).unwrap();
            for layer in Layer::ALL {
                for &action in Action::in_layer(layer) {
                    assert!(
                        map.hint(layer, action).is_some(),
                        "{name}: {} has no key for {action}",
                        layer.name()
                    );
                }
                let own = &map.layers[layer.index()];
                for (i, b) in own.iter().enumerate() {
                    // Every built-in binding has its own description (not the default one made from `run`).
                    assert!(
                        !b.desc.is_empty() && b.desc != b.run.name().replace('_', " "),
                        "{name}: {b:?}"
                    );
                    assert!(b.run != Action::Noop);
                    // No duplicates and no binding hidden behind a shorter one, in the layer or global.
                    for (j, q) in own.iter().enumerate() {
                        if i != j {
                            assert!(!q.on.starts_with(&b.on), "{name}: {}: {:?} vs {:?}", layer.name(), b, q);
                        }
                    }
                    if layer.inherits_global() && layer != Layer::Help {
                        for q in &map.layers[Layer::Global.index()] {
                            assert!(
                                !q.on.starts_with(&b.on) && !b.on.starts_with(&q.on),
                                "{name}: {} {:?} clashes with global {:?}",
                                layer.name(),
                                b.on,
                                q.on
                            );
                        }
                    }
                }
                assert_eq!(map.bindings(layer).len(), own.len());
            }
            // Pruning is never on a Ctrl chord.
            for b in map.bindings(Layer::Tree).into_iter().filter(|b| b.run == Action::Prune) {
                assert!(b.on.iter().all(|k| !k.mods.contains(KeyModifiers::CONTROL)), "{name}");
            }
        }
    }
}
