//! Bundles: everything that defines how the agent behaves, as a TOML file an
//! engineer can name, diff, compare on a suite and replay traces under.
//!
//! A bundle holds what can be chosen (the reasoner and its model route, the
//! strategies, the budgets, the eval suite) and what this build fixes (the
//! reasoner's version, the prompt set, the skills, the read-only policy, the
//! effective redaction rules), the latter by content hash: a bundle written by
//! another build, or under other redaction rules, is refused rather than run as
//! if it were the same. Its id hashes the canonical content; a bundle equal to
//! the built-in default has the id traces have always had.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::bundle::{POLICY, bundle_id_with};
use crate::model::Budget;
use crate::tools::Catalog;

/// The reasoners a bundle may name.
pub const REASONERS: [&str; 3] = ["builtin", "llm", "hybrid"];

/// A bundle, every field resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bundle {
    pub reasoner: ReasonerSpec,
    /// The model a `llm` or `hybrid` reasoner uses; none for `builtin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRoute>,
    /// Hash of the prompts the model is sent (reason::prompt_set).
    pub prompts: String,
    /// The strategies run as branches, in order.
    pub strategies: Vec<String>,
    pub budget: BudgetSpec,
    /// Hash of the skills and strategies (skills/) this build ships: the tool contracts.
    pub skills: String,
    /// The read-only policy.
    pub read_only: String,
    /// Hash of the effective redaction rules: redact.toml and config.toml's `[redact]`.
    pub redaction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonerSpec {
    /// builtin, llm or hybrid.
    pub kind: String,
    /// The reasoner's fingerprint in this build.
    #[serde(default)]
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRoute {
    /// openai or anthropic.
    pub provider: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub tool_calls: u32,
    pub tokens: u64,
    pub wall_ms: u64,
    pub concurrency: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tool_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tokens: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// A directory of scenario files, relative to the bundle file.
    pub suite: String,
}

/// A bundle file as written: what is left out is this build's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleFile {
    strategies: Option<Vec<String>>,
    prompts: Option<String>,
    skills: Option<String>,
    read_only: Option<String>,
    redaction: Option<String>,
    reasoner: Option<ReasonerSpec>,
    model: Option<ModelRoute>,
    budget: Option<PartialBudget>,
    eval: Option<EvalSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialBudget {
    tool_calls: Option<u32>,
    tokens: Option<u64>,
    wall_ms: Option<u64>,
    concurrency: Option<u32>,
    branch_tool_calls: Option<u32>,
    branch_tokens: Option<u64>,
}

impl From<&Budget> for BudgetSpec {
    fn from(b: &Budget) -> Self {
        BudgetSpec {
            tool_calls: b.tool_calls,
            tokens: b.tokens,
            wall_ms: b.wall_ms,
            concurrency: b.concurrency,
            branch_tool_calls: b.branch_tool_calls,
            branch_tokens: b.branch_tokens,
        }
    }
}

impl BudgetSpec {
    pub fn budget(&self) -> Budget {
        Budget {
            tool_calls: self.tool_calls,
            wall_ms: self.wall_ms,
            tokens: self.tokens,
            concurrency: self.concurrency,
            branch_tool_calls: self.branch_tool_calls,
            branch_tokens: self.branch_tokens,
        }
    }
}

/// A bundle file that cannot be used: where, and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct BundleError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// `sha256:` and 16 hex digits.
pub fn short_hash(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    format!(
        "sha256:{}",
        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The fields this build fixes, as a bundle states them.
pub struct Fixed {
    pub reasoner_version: String,
    pub prompts: String,
    pub skills: String,
    pub read_only: String,
    pub redaction: String,
}

impl Fixed {
    pub fn of(reasoner_fingerprint: &str, catalog: &Catalog) -> Fixed {
        Fixed {
            reasoner_version: reasoner_fingerprint.to_string(),
            prompts: crate::reason::prompt_set_hash(),
            skills: short_hash(&catalog.fingerprint_text()),
            read_only: POLICY.to_string(),
            redaction: crate::tools::redact::current().fingerprint().to_string(),
        }
    }
}

impl Bundle {
    /// The bundle an investigation runs under.
    pub fn effective(
        fixed: Fixed,
        kind: &str,
        model: Option<ModelRoute>,
        strategies: Vec<String>,
        budget: &Budget,
        eval: Option<EvalSpec>,
    ) -> Bundle {
        Bundle {
            reasoner: ReasonerSpec {
                kind: kind.to_string(),
                version: fixed.reasoner_version,
            },
            model,
            prompts: fixed.prompts,
            strategies,
            budget: budget.into(),
            skills: fixed.skills,
            read_only: fixed.read_only,
            redaction: fixed.redaction,
            eval,
        }
    }

    /// The id: the default bundle's hash, extended by the canonical text of
    /// whatever differs from the default (so the default keeps its id).
    pub fn id(&self, catalog: &Catalog) -> String {
        let mut extra = serde_json::Map::new();
        if self.strategies != catalog.strategy_names() {
            extra.insert("strategies".into(), serde_json::json!(self.strategies));
        }
        if self.budget != BudgetSpec::from(&Budget::default()) {
            extra.insert("budget".into(), serde_json::json!(self.budget));
        }
        if let Some(m) = &self.model {
            extra.insert("model".into(), serde_json::json!(m));
            extra.insert("prompts".into(), serde_json::json!(self.prompts));
        }
        if self.redaction != crate::tools::redact::default_fingerprint() {
            extra.insert("redaction".into(), serde_json::json!(self.redaction));
        }
        if let Some(e) = &self.eval {
            extra.insert("eval".into(), serde_json::json!(e));
        }
        let settings = if extra.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(extra).to_string()
        };
        bundle_id_with(&self.reasoner.version, catalog, &settings)
    }

    /// Where the eval suite is, relative to `base` (the bundle file's directory).
    pub fn suite_dir(&self, base: &Path) -> Option<PathBuf> {
        self.eval.as_ref().map(|e| base.join(&e.suite))
    }

    /// The fields this build fixes that differ from `fixed`, each as a sentence.
    pub fn mismatches(&self, fixed: &Fixed) -> Vec<String> {
        let mut out = Vec::new();
        // An empty value (left out of a hand-written file) is this build's.
        let mut check = |what: &str, file: &str, here: &str| {
            if !file.is_empty() && file != here {
                out.push(format!("{what}: the bundle says {file:?}, this build has {here:?}"));
            }
        };
        check("reasoner.version", &self.reasoner.version, &fixed.reasoner_version);
        check("prompts", &self.prompts, &fixed.prompts);
        check("skills", &self.skills, &fixed.skills);
        check("read_only", &self.read_only, &fixed.read_only);
        check(
            "redaction (redact.toml and config.toml [redact])",
            &self.redaction,
            &fixed.redaction,
        );
        out
    }

    /// The bundle as the TOML that [`parse`] reads.
    pub fn to_toml(&self, id: &str) -> String {
        let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let mut o = String::new();
        o.push_str(&format!(
            "# inquest bundle {id}: what defines the agent's behaviour.\n\
             # `inquest run|eval|serve --bundle FILE` applies it; left-out keys take this build's defaults.\n\n"
        ));
        o.push_str("# Strategies run as branches, in order.\n");
        let names: Vec<String> = self.strategies.iter().map(|s| q(s)).collect();
        o.push_str(&format!("strategies = [{}]\n", names.join(", ")));
        o.push_str("# Fixed by the build, checked when applied: the prompts a model is sent,\n");
        o.push_str("# the skills and strategies (skills/), the read-only policy, the redaction rules.\n");
        o.push_str(&format!("prompts = {}\n", q(&self.prompts)));
        o.push_str(&format!("skills = {}\n", q(&self.skills)));
        o.push_str(&format!("read_only = {}\n", q(&self.read_only)));
        o.push_str(&format!("redaction = {}\n\n", q(&self.redaction)));
        o.push_str("[reasoner]\n# builtin, llm or hybrid\n");
        o.push_str(&format!("kind = {}\n", q(&self.reasoner.kind)));
        o.push_str(&format!("version = {}\n", q(&self.reasoner.version)));
        if let Some(m) = &self.model {
            o.push_str("\n[model]\n");
            o.push_str(&format!("provider = {}\nmodel = {}\n", q(&m.provider), q(&m.model)));
            if let Some(t) = m.temperature {
                o.push_str(&format!("temperature = {}\n", float(t)));
            }
        }
        let b = &self.budget;
        o.push_str("\n[budget]\n");
        o.push_str(&format!(
            "tool_calls = {}\ntokens = {}\nwall_ms = {}\nconcurrency = {}\n",
            b.tool_calls, b.tokens, b.wall_ms, b.concurrency
        ));
        if let Some(n) = b.branch_tool_calls {
            o.push_str(&format!("branch_tool_calls = {n}\n"));
        }
        if let Some(n) = b.branch_tokens {
            o.push_str(&format!("branch_tokens = {n}\n"));
        }
        match &self.eval {
            Some(e) => o.push_str(&format!(
                "\n[eval]\n# A directory of scenarios, relative to this file.\nsuite = {}\n",
                q(&e.suite)
            )),
            None => o.push_str(
                "\n# [eval]\n# suite = \"scenarios\"   # without it, `inquest eval` runs the built-in suite\n",
            ),
        }
        o
    }

    /// The bundle as JSON, with its id.
    pub fn to_json(&self, id: &str) -> serde_json::Value {
        let mut v = serde_json::json!(self);
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), serde_json::json!(id));
        }
        v
    }
}

/// A float TOML reads back as a float.
fn float(t: f64) -> String {
    let s = format!("{t}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key = ` first appears, for errors found after parsing.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Reads a bundle file over `base` (this build's default bundle).
pub fn parse(text: &str, file: &str, base: &Bundle) -> Result<Bundle, BundleError> {
    let err = |line: Option<usize>, message: String| BundleError {
        file: file.to_string(),
        line,
        message,
    };
    let f: BundleFile = toml::from_str(text).map_err(|e| {
        err(
            e.span().map(|s| line_of(text, s.start)),
            format!("{} (expected a bundle: see `inquest bundle show`)", e.message().trim()),
        )
    })?;
    let mut b = base.clone();
    if let Some(r) = f.reasoner {
        if !REASONERS.contains(&r.kind.as_str()) {
            return Err(err(
                line_of_key(text, "kind"),
                format!("reasoner.kind {:?}: expected builtin, llm or hybrid", r.kind),
            ));
        }
        let version = if r.version.is_empty() && r.kind == base.reasoner.kind {
            base.reasoner.version.clone()
        } else {
            r.version
        };
        b.reasoner = ReasonerSpec { kind: r.kind, version };
    }
    if b.reasoner.kind == "builtin" && f.model.is_some() {
        return Err(err(
            line_of_key(text, "provider").or(line_of_key(text, "model")),
            "[model]: the builtin reasoner uses no model (expected reasoner.kind llm or hybrid)".into(),
        ));
    }
    if let Some(m) = f.model {
        if !["openai", "anthropic"].contains(&m.provider.as_str()) {
            return Err(err(
                line_of_key(text, "provider"),
                format!("model.provider {:?}: expected openai or anthropic", m.provider),
            ));
        }
        if let Some(t) = m.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(err(
                line_of_key(text, "temperature"),
                format!("model.temperature {t}: expected a number from 0 to 2"),
            ));
        }
        b.model = Some(m);
    }
    if let Some(s) = f.strategies {
        if s.is_empty() {
            return Err(err(
                line_of_key(text, "strategies"),
                "strategies: expected at least one strategy".into(),
            ));
        }
        b.strategies = s;
    }
    if let Some(p) = f.budget {
        let d = &mut b.budget;
        d.tool_calls = p.tool_calls.unwrap_or(d.tool_calls);
        d.tokens = p.tokens.unwrap_or(d.tokens);
        d.wall_ms = p.wall_ms.unwrap_or(d.wall_ms);
        d.concurrency = p.concurrency.unwrap_or(d.concurrency);
        d.branch_tool_calls = p.branch_tool_calls.or(d.branch_tool_calls);
        d.branch_tokens = p.branch_tokens.or(d.branch_tokens);
        if d.concurrency == 0 {
            return Err(err(
                line_of_key(text, "concurrency"),
                "budget.concurrency: expected at least 1".into(),
            ));
        }
    }
    for (field, value) in [
        (&mut b.prompts, f.prompts),
        (&mut b.skills, f.skills),
        (&mut b.read_only, f.read_only),
        (&mut b.redaction, f.redaction),
    ] {
        if let Some(v) = value {
            *field = v;
        }
    }
    b.eval = f.eval.or(b.eval);
    Ok(b)
}

/// A loaded bundle: the bundle and the directory its relative paths start from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub bundle: Arc<Bundle>,
    pub dir: PathBuf,
    pub file: String,
}

/// Reads and parses a bundle file.
pub fn load(path: &Path, base: &Bundle) -> Result<Loaded, BundleError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| BundleError {
        file: file.clone(),
        line: None,
        message: e.to_string(),
    })?;
    let bundle = parse(&text, &file, base)?;
    Ok(Loaded {
        bundle: Arc::new(bundle),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> (Bundle, Catalog) {
        let catalog = Catalog::builtin().unwrap();
        let fp = crate::reason::Reasoner::fingerprint(&crate::reason::builtin::Builtin::new());
        let b = Bundle::effective(
            Fixed::of(&fp, &catalog),
            "builtin",
            None,
            catalog.strategy_names(),
            &Budget::default(),
            None,
        );
        (b, catalog)
    }

    #[test]
    fn the_default_bundle_keeps_the_id_traces_always_had() {
        let (b, catalog) = base();
        assert_eq!(
            b.id(&catalog),
            crate::engine::bundle::bundle_id(&b.reasoner.version, &catalog)
        );
    }

    #[test]
    fn what_show_writes_reads_back_to_the_same_bundle_and_id() {
        let (b, catalog) = base();
        let mut candidate = b.clone();
        candidate.strategies.truncate(2);
        candidate.budget.branch_tool_calls = Some(9);
        candidate.eval = Some(EvalSpec { suite: "suite".into() });
        for x in [&b, &candidate] {
            let text = x.to_toml(&x.id(&catalog));
            let back = parse(&text, "b.toml", &b).unwrap();
            assert_eq!(&back, x, "{text}");
            assert_eq!(back.id(&catalog), x.id(&catalog));
        }
        assert_ne!(
            candidate.id(&catalog),
            b.id(&catalog),
            "fewer strategies is another bundle"
        );
    }

    #[test]
    fn a_partial_file_takes_the_defaults_and_errors_name_the_line() {
        let (b, _) = base();
        let got = parse("strategies = [\"metrics-first\"]\n", "c.toml", &b).unwrap();
        assert_eq!(got.strategies, vec!["metrics-first"]);
        assert_eq!(got.budget, b.budget);
        let e = parse(
            "strategies = [\"a\"]\n\n[budget]\ntool_calls = \"many\"\n",
            "c.toml",
            &b,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.to_string().starts_with("c.toml:4: "), "{e}");
        let e = parse("strategys = []\n", "c.toml", &b).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("unknown field `strategys`"), "{e}");
        let e = parse("[reasoner]\nkind = \"gpt\"\n", "c.toml", &b).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("expected builtin, llm or hybrid"), "{e}");
    }
}
