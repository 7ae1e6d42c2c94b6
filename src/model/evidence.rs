//! What a tool call brought back, kept so a conclusion can say what it rests on.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    MetricSeries,
    LogLines,
    Trace,
    KubernetesObject,
    Changes,
    Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// One line for lists and trees.
    pub summary: String,
    /// Syntax for highlighting: `json`, `yaml`, `log`, `text`.
    pub syntax: String,
    /// The body; may be large. Stored once, shown windowed.
    pub body: String,
}
