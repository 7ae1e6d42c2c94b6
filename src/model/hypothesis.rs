//! Root-cause hypotheses from branches and the merged, ranked conclusion.

use serde::{Deserialize, Serialize};

use super::{FaultKind, SpanId};

/// One branch's claim about the root cause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub service: String,
    pub kind: FaultKind,
    pub statement: String,
    /// 0..1
    pub confidence: f64,
    /// Span ids of the evidence it rests on.
    pub evidence: Vec<SpanId>,
    /// How sure the branch is of the kind, apart from the service (0..1).
    #[serde(default = "full")]
    pub kind_confidence: f64,
}

fn full() -> f64 {
    1.0
}

/// One entry of the merged conclusion, best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub service: String,
    pub kind: FaultKind,
    pub confidence: f64,
    pub statement: String,
    pub evidence: Vec<SpanId>,
    /// The branches whose hypotheses support it.
    pub branches: Vec<SpanId>,
    /// The hypothesis spans merged into it; feedback on a root cause names the first.
    #[serde(default)]
    pub hypotheses: Vec<SpanId>,
    /// The confidence from the evidence alone, when guidance moved it (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_confidence: Option<f64>,
}
