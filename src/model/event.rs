//! Events: everything the engine says, in order. One JSON object per line:
//! `{"v":1,"trace_id":..,"span_id":..,"parent_span_id":..|null,"seq":N,"at":RFC3339,"type":..,...}`.

use serde::{Deserialize, Serialize};

use super::{Alert, Allotment, Budget, Evidence, FaultKind, Hypothesis, RootCause, SpanId, Timestamp, TraceId};

/// The wire format's version; readers accept this and older.
pub const EVENT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub seq: u64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchStatus {
    Queued,
    Running,
    Paused,
    Pruned,
    Done,
    Failed,
    OutOfBudget,
}

impl BranchStatus {
    /// Whether the branch can still change.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            BranchStatus::Queued | BranchStatus::Running | BranchStatus::Paused
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BranchStatus::Queued => "queued",
            BranchStatus::Running => "running",
            BranchStatus::Paused => "paused",
            BranchStatus::Pruned => "pruned",
            BranchStatus::Done => "done",
            BranchStatus::Failed => "failed",
            BranchStatus::OutOfBudget => "out_of_budget",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvestigationStatus {
    Running,
    Done,
    Stopped,
    Failed,
    /// The process ended before the investigation did (crash, kill -9).
    Interrupted,
}

impl InvestigationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvestigationStatus::Running => "running",
            InvestigationStatus::Done => "done",
            InvestigationStatus::Stopped => "stopped",
            InvestigationStatus::Failed => "failed",
            InvestigationStatus::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ok,
    /// The source answered with an error, timed out or was unreachable.
    Error,
    /// The read-only guard refused the call.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuidanceScope {
    Investigation,
    Branch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    InvestigationStarted {
        alert: Box<Alert>,
        bundle_id: String,
        reasoner: String,
        budget: Budget,
        strategies: Vec<String>,
        /// What the tools read: `sim:<scenario id>` or the configured sources.
        source: String,
        /// The instant the investigation looks back from.
        now: Timestamp,
    },
    BranchStarted {
        strategy: String,
        title: String,
        #[serde(default)]
        parent_branch: Option<SpanId>,
        #[serde(default)]
        guidance: Option<String>,
        /// The branch's own share of the budget and why, when past grades set one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allotment: Option<Allotment>,
    },
    ThoughtDelta {
        text: String,
    },
    ToolCallStarted {
        tool: String,
        args: serde_json::Value,
    },
    ToolCallFinished {
        tool: String,
        status: CallStatus,
        duration_ms: u64,
        summary: String,
        evidence_span_id: Option<SpanId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    EvidenceAdded {
        evidence: Evidence,
    },
    HypothesisProposed {
        hypothesis: Hypothesis,
    },
    GuidanceApplied {
        scope: GuidanceScope,
        #[serde(default)]
        branch: Option<SpanId>,
        text: String,
        author: String,
    },
    BranchStatusChanged {
        status: BranchStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    BudgetUsed {
        tool_calls: u32,
        tokens: u64,
        elapsed_ms: u64,
        branch_tool_calls: u32,
        branch_tokens: u64,
        /// What the model calls cost so far, in millionths of a US dollar (0 without prices).
        #[serde(default, skip_serializing_if = "is_zero")]
        cost_microusd: u64,
        /// Of `tokens`, how many were estimated (the server reported no usage); absent when none were.
        #[serde(default, skip_serializing_if = "is_zero")]
        estimated_tokens: u64,
    },
    BudgetChanged {
        budget: Budget,
    },
    CommandRejected {
        command: String,
        reason: String,
    },
    ConclusionUpdated {
        root_causes: Vec<RootCause>,
        /// The sources the conclusion rests on and those that could not be read.
        #[serde(default, skip_serializing_if = "SourcesRead::is_empty")]
        sources: SourcesRead,
    },
    InvestigationFinished {
        status: InvestigationStatus,
        root_causes: Vec<RootCause>,
        tool_calls: u32,
        tokens: u64,
        elapsed_ms: u64,
        /// The sources the conclusion rests on and those that could not be read.
        #[serde(default, skip_serializing_if = "SourcesRead::is_empty")]
        sources: SourcesRead,
    },
}

/// Which sources (tool families: `prometheus`, `loki`, `kubernetes`, `traces`,
/// `changes`) answered at least one call, and which were called but never answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcesRead {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub unavailable: Vec<Unavailable>,
}

/// A source every call to which failed, with the first failure's cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    pub source: String,
    pub cause: String,
}

impl SourcesRead {
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.unavailable.is_empty()
    }

    /// Records one finished call to `source`: an answer makes it read, a
    /// failure makes it unavailable unless some other call to it answered.
    pub fn record(&mut self, source: &str, answered: bool, cause: &str) {
        if answered {
            self.unavailable.retain(|u| u.source != source);
            if !self.read.iter().any(|r| r == source) {
                self.read.push(source.to_string());
                self.read.sort();
            }
        } else if !self.read.iter().any(|r| r == source) && !self.unavailable.iter().any(|u| u.source == source) {
            self.unavailable.push(Unavailable {
                source: source.to_string(),
                cause: cause.to_string(),
            });
            self.unavailable.sort_by(|a, b| a.source.cmp(&b.source));
        }
    }

    /// `read loki, prometheus; could not read kubernetes (<cause>), traces (<cause>)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.read.is_empty() {
            parts.push(format!("read {}", self.read.join(", ")));
        }
        if !self.unavailable.is_empty() {
            let unread: Vec<String> = self
                .unavailable
                .iter()
                .map(|u| format!("{} ({})", u.source, u.cause))
                .collect();
            parts.push(format!("could not read {}", unread.join(", ")));
        }
        parts.join("; ")
    }

    /// `could not read: kubernetes, traces`, or nothing when every source called answered.
    pub fn unavailable_line(&self) -> Option<String> {
        if self.unavailable.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.unavailable.iter().map(|u| u.source.as_str()).collect();
        Some(format!("could not read: {}", names.join(", ")))
    }
}

impl EventKind {
    /// The snake_case name written as `type`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::InvestigationStarted { .. } => "investigation_started",
            EventKind::BranchStarted { .. } => "branch_started",
            EventKind::ThoughtDelta { .. } => "thought_delta",
            EventKind::ToolCallStarted { .. } => "tool_call_started",
            EventKind::ToolCallFinished { .. } => "tool_call_finished",
            EventKind::EvidenceAdded { .. } => "evidence_added",
            EventKind::HypothesisProposed { .. } => "hypothesis_proposed",
            EventKind::GuidanceApplied { .. } => "guidance_applied",
            EventKind::BranchStatusChanged { .. } => "branch_status_changed",
            EventKind::BudgetUsed { .. } => "budget_used",
            EventKind::BudgetChanged { .. } => "budget_changed",
            EventKind::CommandRejected { .. } => "command_rejected",
            EventKind::ConclusionUpdated { .. } => "conclusion_updated",
            EventKind::InvestigationFinished { .. } => "investigation_finished",
        }
    }
}

impl Event {
    /// One JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json_line(s: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// Convenience for `FaultKind` in statements.
fn is_zero(x: &u64) -> bool {
    *x == 0
}

pub fn kind_phrase(k: FaultKind) -> &'static str {
    match k {
        FaultKind::CpuSaturation => "CPU saturation",
        FaultKind::MemoryLeak => "a memory leak",
        FaultKind::DiskFull => "a full disk",
        FaultKind::NetworkDelay => "network delay",
        FaultKind::PacketLoss => "packet loss",
        FaultKind::DnsFailure => "DNS resolution failure",
        FaultKind::PodCrashloop => "a crash loop",
        FaultKind::ImagePullError => "an image pull error",
        FaultKind::ReplicaLoss => "lost replicas",
        FaultKind::NodePressure => "node pressure",
        FaultKind::BadDeploy => "a bad deploy",
        FaultKind::ConfigError => "a configuration error",
        FaultKind::ConnectionPoolExhaustion => "connection pool exhaustion",
        FaultKind::CacheFailure => "a cache failure",
        FaultKind::CertificateExpired => "an expired certificate",
        FaultKind::AuthFailure => "an authentication failure",
        FaultKind::QueueBacklog => "a queue backlog",
    }
}

#[cfg(test)]
mod sources_tests {
    use super::*;

    #[test]
    fn one_answer_makes_a_source_read_and_only_sources_never_answering_are_unavailable() {
        let mut s = SourcesRead::default();
        s.record("traces", false, "jaeger: HTTP 500");
        s.record("traces", false, "timed out after 800 ms");
        s.record("kubernetes", false, "no kubernetes source is configured");
        s.record("prometheus", true, "");
        s.record("loki", false, "timed out");
        s.record("loki", true, "");
        s.record("prometheus", false, "HTTP 503");
        assert_eq!(s.read, ["loki", "prometheus"]);
        let un: Vec<(&str, &str)> = s
            .unavailable
            .iter()
            .map(|u| (u.source.as_str(), u.cause.as_str()))
            .collect();
        assert_eq!(
            un,
            [
                ("kubernetes", "no kubernetes source is configured"),
                ("traces", "jaeger: HTTP 500")
            ]
        );
        assert_eq!(
            s.unavailable_line().as_deref(),
            Some("could not read: kubernetes, traces")
        );
        assert_eq!(
            s.describe(),
            "read loki, prometheus; could not read kubernetes (no kubernetes source is configured), traces (jaeger: HTTP 500)"
        );
    }

    #[test]
    fn older_conclusions_without_sources_still_load_and_empty_ones_are_not_written() {
        let old = r#"{"type":"conclusion_updated","root_causes":[]}"#;
        let k: EventKind = serde_json::from_str(old).unwrap();
        assert_eq!(
            k,
            EventKind::ConclusionUpdated {
                root_causes: vec![],
                sources: SourcesRead::default()
            }
        );
        assert_eq!(serde_json::to_string(&k).unwrap(), old);
    }
}
