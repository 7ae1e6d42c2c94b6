//! Themes: styles for role-named slots such as `tree.running` or `stream.error`.
//!
//! A theme is a TOML file with one table per section and one inline table per slot:
//!
//! ```toml
//! [tree]
//! running = { fg = "cyan", bold = true }
//! pruned = { fg = "darkgray", crossed_out = true }
//! ```
//!
//! Colours are the 16 ANSI names, "default" / "reset" (the terminal's own), "#rrggbb" or an integer 0-255;
//! modifiers are the booleans bold, dim, italic, underlined, reversed, crossed_out. The built-in themes
//! (`themes/*.toml`) are compiled in; a user's `theme.toml` is merged over the chosen one slot by slot.

use crate::config::located::Located;
use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One table, so a role's variant and its `section.slot` name cannot drift apart.
macro_rules! roles {
    ($($variant:ident = $name:literal;)*) => {
        /// A slot a theme styles, named in theme files as `section.slot`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role {
            $($variant,)*
        }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$variant,)*];

            /// The role's `section.slot` in a theme file.
            pub fn name(self) -> &'static str {
                match self {
                    $(Role::$variant => $name,)*
                }
            }
        }
    };
}

roles! {
    PaneBorder = "pane.border";
    PaneBorderFocus = "pane.border_focus";
    PaneTitle = "pane.title";
    TreeRunning = "tree.running";
    TreeQueued = "tree.queued";
    TreePaused = "tree.paused";
    TreePruned = "tree.pruned";
    TreeDone = "tree.done";
    TreeFailed = "tree.failed";
    TreeOutOfBudget = "tree.out_of_budget";
    TreeSelected = "tree.selected";
    TreeConfidence = "tree.confidence";
    TreeFeedback = "tree.feedback";
    StreamTime = "stream.time";
    StreamThought = "stream.thought";
    StreamTool = "stream.tool";
    StreamArgs = "stream.args";
    StreamOk = "stream.ok";
    StreamError = "stream.error";
    StreamRefused = "stream.refused";
    StreamGuidance = "stream.guidance";
    StreamHypothesis = "stream.hypothesis";
    StreamCursor = "stream.cursor";
    StreamSelection = "stream.selection";
    EvidenceText = "evidence.text";
    EvidenceKey = "evidence.key";
    EvidenceString = "evidence.string";
    EvidenceNumber = "evidence.number";
    EvidenceKeyword = "evidence.keyword";
    EvidenceComment = "evidence.comment";
    EvidenceError = "evidence.error";
    EvidenceWarn = "evidence.warn";
    EvidenceSparkline = "evidence.sparkline";
    EvidenceOnset = "evidence.onset";
    EvidenceHighlight = "evidence.highlight";
    CausesRank = "causes.rank";
    CausesService = "causes.service";
    CausesKind = "causes.kind";
    CausesConfidence = "causes.confidence";
    CausesSelected = "causes.selected";
    CausesGraded = "causes.graded";
    StatusBar = "status.bar";
    StatusKey = "status.key";
    StatusValue = "status.value";
    StatusWarning = "status.warning";
    ComposerBorder = "composer.border";
    ComposerText = "composer.text";
    HelpKey = "help.key";
    HelpDesc = "help.desc";
    DialogBorder = "dialog.border";
    DialogText = "dialog.text";
    HeatGood = "heat.good";
    HeatFair = "heat.fair";
    HeatPoor = "heat.poor";
}

impl Role {
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The built-in themes: name, file text.
const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    ("dusk", include_str!("../../themes/dusk.toml")),
];

const ANSI: &[(&str, Color)] = &[
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
];

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
];

const EXPECTED_COLOUR: &str = "expected one of the 16 ANSI colour names (black red green yellow blue magenta cyan \
    gray darkgray lightred lightgreen lightyellow lightblue lightmagenta lightcyan white), \"default\", \
    \"#rrggbb\" or an integer 0-255";

/// Styles by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    name: String,
    styles: BTreeMap<Role, Style>,
}

impl Theme {
    /// "default", "light", "mono" or "dusk" (24-bit colour); compiled in with include_str!.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (name, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let mut theme = Theme::parse(text, &format!("themes/{name}.toml")).ok()?;
        theme.name = name.to_string();
        Some(theme)
    }

    /// `name` (a built-in name, or a file `<name>.toml` in `user_dir`), mono when `no_color` is true whatever
    /// the name, with the user's `theme.toml` in `user_dir` merged over it slot by slot. Never fails: messages
    /// come back as "path:line: ..." and defaults are used.
    ///
    /// The user's `theme.toml` applies even with `no_color`: an explicit configuration wins over NO_COLOR.
    /// A theme file from `user_dir` is merged over the default theme, so it may leave slots out.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> (Theme, Vec<String>) {
        let mut messages = Vec::new();
        let fallback = || Theme::builtin("default").unwrap_or_else(|| Theme::empty("default"));
        let wanted = if no_color { "mono" } else { name };
        let mut theme = if let Some(theme) = Theme::builtin(wanted) {
            theme
        } else {
            let file = user_dir
                .map(|dir| dir.join(format!("{wanted}.toml")))
                .filter(|p| p.is_file());
            match file {
                Some(path) => {
                    let mut theme = fallback();
                    theme.name = wanted.to_string();
                    theme.merge_file(&path, &mut messages);
                    theme
                }
                None => {
                    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                    let place = match user_dir {
                        Some(dir) => format!(" or a file {}", dir.join(format!("{wanted}.toml")).display()),
                        None => String::new(),
                    };
                    messages.push(format!(
                        "unknown theme \"{wanted}\": expected one of {}{place}; using \"default\"",
                        names.join(", ")
                    ));
                    fallback()
                }
            }
        };
        if let Some(dir) = user_dir {
            let path = dir.join("theme.toml");
            if path.is_file() {
                theme.merge_file(&path, &mut messages);
            }
        }
        (theme, messages)
    }

    /// Parses a theme from text; `path` is only for messages (and names the theme after its file stem).
    pub fn parse(text: &str, path: &str) -> Result<Theme, String> {
        let (slots, errors) = parse_slots(text, path);
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let name = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut theme = Theme::empty(&name);
        theme.styles.extend(slots);
        Ok(theme)
    }

    /// The style of a role; one the theme leaves out is the terminal default style.
    pub fn style(&self, role: Role) -> Style {
        self.styles.get(&role).copied().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn empty(name: &str) -> Theme {
        Theme {
            name: name.to_string(),
            styles: BTreeMap::new(),
        }
    }

    fn merge_file(&mut self, path: &Path, messages: &mut Vec<String>) {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (slots, errors) = parse_slots(&text, &shown);
                messages.extend(errors);
                self.styles.extend(slots);
            }
            Err(e) => messages.push(format!("{shown}: cannot read: {e}")),
        }
    }
}

/// Reads the slots of a theme file, skipping (with a message) whatever is wrong.
fn parse_slots(text: &str, path: &str) -> (Vec<(Role, Style)>, Vec<String>) {
    let ctx = Located { text, path };
    let mut errors = Vec::new();
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            errors.push(ctx.at(span, format!("invalid TOML: {}", e.message().trim())));
            return (Vec::new(), errors);
        }
    };
    let mut sections: Vec<&str> = Role::ALL
        .iter()
        .filter_map(|r| r.name().split_once('.'))
        .map(|(s, _)| s)
        .collect();
    sections.dedup();
    let mut slots = Vec::new();
    for (section, value) in doc.get_ref() {
        let section_name: &str = section.get_ref();
        if !sections.contains(&section_name) {
            errors.push(ctx.at(
                section.span(),
                format!(
                    "unknown section [{section_name}]: expected one of {}",
                    sections.join(", ")
                ),
            ));
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            errors.push(ctx.at(value.span(), format!("expected a table [{section_name}] of slots")));
            continue;
        };
        for (slot, spec) in table {
            let Some(role) = Role::from_name(&format!("{section_name}.{}", slot.get_ref())) else {
                let known: Vec<&str> = Role::ALL
                    .iter()
                    .filter_map(|r| r.name().strip_prefix(section_name).and_then(|r| r.strip_prefix('.')))
                    .collect();
                errors.push(ctx.at(
                    slot.span(),
                    format!(
                        "unknown slot \"{}\" in [{section_name}]: expected one of {}",
                        slot.get_ref(),
                        known.join(", ")
                    ),
                ));
                continue;
            };
            match parse_style(&ctx, spec) {
                Ok(style) => slots.push((role, style)),
                Err(e) => errors.push(e),
            }
        }
    }
    (slots, errors)
}

fn parse_style(ctx: &Located<'_>, spec: &Spanned<DeValue<'_>>) -> Result<Style, String> {
    let DeValue::Table(table) = spec.get_ref() else {
        return Err(ctx.at(
            spec.span(),
            "expected a style like { fg = \"cyan\", bg = \"default\", bold = true }",
        ));
    };
    let mut style = Style::default();
    for (key, value) in table {
        let key_name: &str = key.get_ref();
        match key_name {
            "fg" => style = style.fg(parse_colour(ctx, value)?),
            "bg" => style = style.bg(parse_colour(ctx, value)?),
            _ => {
                let Some((_, modifier)) = MODIFIERS.iter().find(|(n, _)| *n == key_name) else {
                    let names: Vec<&str> = MODIFIERS.iter().map(|(n, _)| *n).collect();
                    return Err(ctx.at(
                        key.span(),
                        format!(
                            "unknown style key \"{key_name}\": expected fg, bg, {}",
                            names.join(", ")
                        ),
                    ));
                };
                match value.get_ref() {
                    DeValue::Boolean(true) => style = style.add_modifier(*modifier),
                    DeValue::Boolean(false) => style = style.remove_modifier(*modifier),
                    other => {
                        return Err(ctx.at(
                            value.span(),
                            format!("\"{key_name}\" must be true or false, not {}", other.type_str()),
                        ));
                    }
                }
            }
        }
    }
    Ok(style)
}

fn parse_colour(ctx: &Located<'_>, value: &Spanned<DeValue<'_>>) -> Result<Color, String> {
    let bad = |shown: &str| ctx.at(value.span(), format!("bad colour {shown}: {EXPECTED_COLOUR}"));
    match value.get_ref() {
        DeValue::String(s) => {
            let folded: String = s
                .chars()
                .filter(|c| !matches!(c, '_' | '-' | ' '))
                .flat_map(char::to_lowercase)
                .collect::<String>()
                .replace("grey", "gray");
            if folded == "default" || folded == "reset" {
                return Ok(Color::Reset);
            }
            if let Some((_, c)) = ANSI.iter().find(|(n, _)| *n == folded) {
                return Ok(*c);
            }
            if let Some(hex) = s.strip_prefix('#')
                && hex.len() == 6
                && hex.chars().all(|c| c.is_ascii_hexdigit())
            {
                let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
                return Ok(Color::Rgb(byte(0), byte(2), byte(4)));
            }
            Err(bad(&format!("\"{s}\"")))
        }
        DeValue::Integer(i) => i
            .as_str()
            .parse::<u8>()
            .ok()
            .filter(|_| i.radix() == 10)
            .map(Color::Indexed)
            .ok_or_else(|| bad(i.as_str())),
        other => Err(bad(other.type_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("inquest-theme-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn builtin_themes_parse_and_define_every_role() {
        for (name, text) in BUILTIN {
            let theme = Theme::parse(text, &format!("themes/{name}.toml")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(theme.name(), *name);
            for &role in Role::ALL {
                assert!(theme.styles.contains_key(&role), "{name} does not define {role}");
            }
            assert_eq!(theme.styles.len(), Role::ALL.len(), "{name}");
            assert_eq!(Theme::builtin(name).as_ref(), Some(&theme));
        }
        assert!(Theme::builtin("nope").is_none());
        let default = Theme::builtin("default").unwrap();
        assert_eq!(
            default.style(Role::TreeRunning),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        );
        assert_eq!(Role::from_name("no.such.role"), None);
        // The default theme keeps to the 16 ANSI colours; dusk is 24-bit.
        let ansi = |c: Option<Color>| c.is_none_or(|c| c == Color::Reset || ANSI.iter().any(|(_, a)| *a == c));
        for &role in Role::ALL {
            let s = default.style(role);
            assert!(ansi(s.fg) && ansi(s.bg), "default {role}: {s:?}");
        }
        assert!(matches!(
            Theme::builtin("dusk").unwrap().style(Role::TreeRunning).fg,
            Some(Color::Rgb(..))
        ));
    }

    #[test]
    fn mono_has_no_colours() {
        let mono = Theme::builtin("mono").unwrap();
        for &role in Role::ALL {
            let s = mono.style(role);
            assert_eq!((s.fg, s.bg), (None, None), "mono {role}");
        }
        let (theme, messages) = Theme::load("dusk", None, true);
        assert!(messages.is_empty());
        assert_eq!(theme, mono);
    }

    #[test]
    fn user_theme_overrides_one_slot() {
        let dir = temp_dir("override");
        std::fs::write(
            dir.join("theme.toml"),
            "[tree]\nrunning = { fg = \"#ff8800\", underlined = true }\n",
        )
        .unwrap();
        let (theme, messages) = Theme::load("default", Some(&dir), false);
        assert!(messages.is_empty(), "{messages:?}");
        let default = Theme::builtin("default").unwrap();
        assert_eq!(
            theme.style(Role::TreeRunning),
            Style::new()
                .fg(Color::Rgb(0xff, 0x88, 0))
                .add_modifier(Modifier::UNDERLINED)
        );
        for &role in Role::ALL.iter().filter(|r| **r != Role::TreeRunning) {
            assert_eq!(theme.style(role), default.style(role), "{role}");
        }
        assert_eq!(theme.name(), "default");

        // A theme of the user's own, named by its file, is filled in from the default theme.
        std::fs::write(
            dir.join("mine.toml"),
            "[pane]\nborder = { fg = 33, bg = \"default\" }\n",
        )
        .unwrap();
        let (theme, messages) = Theme::load("mine", Some(&dir), false);
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(theme.name(), "mine");
        assert_eq!(
            theme.style(Role::PaneBorder),
            Style::new().fg(Color::Indexed(33)).bg(Color::Reset)
        );
        assert_eq!(
            theme.style(Role::TreeRunning).add_modifier(Modifier::UNDERLINED),
            theme.style(Role::TreeRunning)
        );
        assert_eq!(theme.style(Role::StreamOk), default.style(Role::StreamOk));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_files_give_located_messages_and_defaults() {
        let default = Theme::builtin("default").unwrap();
        let cases: &[(&str, &str, usize, &str)] = &[
            (
                "colour",
                "[tree]\nqueued = { fg = \"red\" }\nrunning = { fg = \"chartreuse-ish\" }\n",
                3,
                "bad colour \"chartreuse-ish\"",
            ),
            (
                "section",
                "[tree]\nqueued = { fg = \"red\" }\n\n[trees]\nrunning = { fg = \"red\" }\n",
                4,
                "unknown section [trees]",
            ),
            (
                "syntax",
                "[tree]\nqueued = { fg = \"red\" }\nrunning = { fg = \"red\"\n",
                3,
                "invalid TOML",
            ),
            (
                "slot",
                "[tree]\nqueued = { fg = \"red\" }\nrunnin = { fg = \"red\" }\n",
                3,
                "unknown slot",
            ),
            (
                "number",
                "[tree]\nqueued = { fg = \"red\" }\nrunning = { fg = 256 }\n",
                3,
                "bad colour 256",
            ),
            (
                "modifier",
                "[tree]\nqueued = { fg = \"red\" }\nrunning = { blink = true }\n",
                3,
                "unknown style key",
            ),
        ];
        for (tag, text, line, what) in cases {
            let dir = temp_dir(tag);
            let path = dir.join("theme.toml");
            std::fs::write(&path, text).unwrap();
            let (theme, messages) = Theme::load("default", Some(&dir), false);
            let prefix = format!("{}:{line}: ", path.display());
            assert_eq!(messages.len(), 1, "{tag}: {messages:?}");
            assert!(
                messages[0].starts_with(&prefix),
                "{tag}: {messages:?} should start with {prefix}"
            );
            assert!(messages[0].contains(what), "{tag}: {messages:?}");
            assert!(messages[0].contains("expected"), "{tag}: {messages:?}");
            assert_eq!(
                theme.style(Role::TreeRunning),
                default.style(Role::TreeRunning),
                "{tag}"
            );
            // What was right still applies (unless the file is not TOML at all).
            let queued = if *tag == "syntax" {
                default.style(Role::TreeQueued)
            } else {
                Style::new().fg(Color::Red)
            };
            assert_eq!(theme.style(Role::TreeQueued), queued, "{tag}");
            assert!(Theme::parse(text, "t.toml").is_err());
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let (theme, messages) = Theme::load("solarized", None, false);
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains("unknown theme \"solarized\""), "{messages:?}");
        assert_eq!(theme, default);
    }
}
