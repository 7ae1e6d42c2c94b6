//! Skills (tool specs with know-how) and strategies, declared in TOML under
//! `skills/` and compiled in.

use serde::Deserialize;
use serde_json::Value;

/// Skill files shipped with inquest.
pub const SKILL_FILES: &[(&str, &str)] = &[
    ("skills/prometheus.toml", include_str!("../../skills/prometheus.toml")),
    ("skills/loki.toml", include_str!("../../skills/loki.toml")),
    ("skills/kubernetes.toml", include_str!("../../skills/kubernetes.toml")),
    ("skills/traces.toml", include_str!("../../skills/traces.toml")),
    ("skills/changes.toml", include_str!("../../skills/changes.toml")),
];

/// Strategy files shipped with inquest.
pub const STRATEGY_FILES: &[(&str, &str)] = &[
    (
        "skills/strategies/metrics-first.toml",
        include_str!("../../skills/strategies/metrics-first.toml"),
    ),
    (
        "skills/strategies/logs-first.toml",
        include_str!("../../skills/strategies/logs-first.toml"),
    ),
    (
        "skills/strategies/traces-first.toml",
        include_str!("../../skills/strategies/traces-first.toml"),
    ),
    (
        "skills/strategies/changes-first.toml",
        include_str!("../../skills/strategies/changes-first.toml"),
    ),
    (
        "skills/strategies/kubernetes-first.toml",
        include_str!("../../skills/strategies/kubernetes-first.toml"),
    ),
    (
        "skills/strategies/dependency-walk.toml",
        include_str!("../../skills/strategies/dependency-walk.toml"),
    ),
];

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub access: Access,
    /// JSON schema of the arguments.
    pub args: Value,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// Stack tags that switch it on; `*` means always.
    pub tags: Vec<String>,
    pub know_how: String,
    #[serde(rename = "tool")]
    pub tools: Vec<ToolSpec>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub name: String,
    pub title: String,
    pub skills: Vec<String>,
    /// Steps of the built-in reasoner.
    pub plan: Vec<String>,
    /// Instructions for a model-driven branch.
    pub prompt: String,
}

/// Everything that shapes what tools exist and how branches investigate.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub skills: Vec<Skill>,
    pub strategies: Vec<Strategy>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, CatalogError> {
    toml::from_str(text).map_err(|e| {
        let line = crate::config::located::toml_line(text, &e);
        CatalogError {
            file: format!("{file}:{line}"),
            message: e.message().to_string(),
        }
    })
}

impl Catalog {
    /// The compiled-in skills and strategies.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let skills = SKILL_FILES
            .iter()
            .map(|(f, t)| parse::<Skill>(f, t))
            .collect::<Result<Vec<_>, _>>()?;
        let strategies = STRATEGY_FILES
            .iter()
            .map(|(f, t)| parse::<Strategy>(f, t))
            .collect::<Result<Vec<_>, _>>()?;
        for st in &strategies {
            for sk in &st.skills {
                if !skills.iter().any(|s| &s.name == sk) {
                    return Err(CatalogError {
                        file: format!("skills/strategies/{}.toml", st.name),
                        message: format!("strategy {} names unknown skill {sk}", st.name),
                    });
                }
            }
        }
        Ok(Catalog { skills, strategies })
    }

    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.skills.iter().flat_map(|s| s.tools.iter()).find(|t| t.name == name)
    }

    pub fn tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.skills.iter().flat_map(|s| s.tools.iter())
    }

    pub fn strategy(&self, name: &str) -> Option<&Strategy> {
        self.strategies.iter().find(|s| s.name == name)
    }

    pub fn strategy_names(&self) -> Vec<String> {
        self.strategies.iter().map(|s| s.name.clone()).collect()
    }

    /// The text every behaviour-shaping input is hashed from.
    pub fn fingerprint_text(&self) -> String {
        let mut s = String::new();
        for (f, t) in SKILL_FILES.iter().chain(STRATEGY_FILES.iter()) {
            s.push_str(f);
            s.push('\n');
            s.push_str(t);
        }
        s
    }
}

/// Checks arguments against a tool's JSON schema (the subset the specs use:
/// object, required, properties with string/integer/number/boolean/array types and enums).
pub fn validate_args(spec: &ToolSpec, args: &Value) -> Result<(), String> {
    let Some(obj) = args.as_object() else {
        return Err("arguments must be a JSON object".into());
    };
    let props = spec.args.get("properties").and_then(Value::as_object);
    if let Some(req) = spec.args.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                return Err(format!("missing required argument {r:?}"));
            }
        }
    }
    for (k, v) in obj {
        let Some(schema) = props.and_then(|p| p.get(k)) else {
            return Err(format!("unknown argument {k:?}"));
        };
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("string");
        let ok = match ty {
            // Times are documented as strings but unix seconds as numbers are accepted too.
            "string" => v.is_string() || (v.is_number() && matches!(k.as_str(), "start" | "end" | "time" | "step")),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array() || v.is_string(),
            _ => true,
        };
        if !ok {
            return Err(format!("argument {k:?} must be of type {ty}"));
        }
        if let Some(en) = schema.get("enum").and_then(Value::as_array)
            && !en.contains(v)
        {
            return Err(format!("argument {k:?} must be one of {}", Value::Array(en.clone())));
        }
    }
    Ok(())
}
