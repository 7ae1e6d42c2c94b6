//! Limits on what an investigation may spend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FaultKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Tool calls across all branches.
    pub tool_calls: u32,
    /// Wall time from the start, in milliseconds.
    pub wall_ms: u64,
    /// Model tokens across all branches (0 for none used).
    pub tokens: u64,
    /// Branches running at once.
    pub concurrency: u32,
    /// Tool calls one branch may make (none: only the investigation's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tool_calls: Option<u32>,
    /// Model tokens one branch may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tokens: Option<u64>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            tool_calls: 200,
            wall_ms: 10 * 60 * 1000,
            tokens: 2_000_000,
            concurrency: 6,
            branch_tool_calls: None,
            branch_tokens: None,
        }
    }
}

/// A change to the budget; fields left `None` stay as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

impl Budget {
    pub fn apply(&mut self, p: &BudgetPatch) {
        if let Some(v) = p.tool_calls {
            self.tool_calls = v;
        }
        if let Some(v) = p.wall_ms {
            self.wall_ms = v;
        }
        if let Some(v) = p.tokens {
            self.tokens = v;
        }
    }
}

/// A branch's own share of the investigation's budget, set when past grades
/// of the alert say which strategies to trust, and why it got that share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allotment {
    /// Tool calls this branch may make.
    pub tool_calls: u32,
    /// Model tokens this branch may spend (only where a per-branch token budget applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Why, in words: "budget 14 calls: 5 of 6 graded correct on HighErrorRate".
    pub reason: String,
}

/// How one strategy has done on an alert, as its budget share reads it: the
/// grades on root causes its branches supported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyRecord {
    pub strategy: String,
    pub correct: u32,
    pub partly: u32,
    pub wrong: u32,
    /// From an imported shared pattern rather than this store's own grades
    /// (counted at a lower weight).
    #[serde(default)]
    pub shared: bool,
    /// Of the correct grades, how many per fault kind, where the kind is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub correct_kinds: BTreeMap<FaultKind, u32>,
}

impl StrategyRecord {
    pub fn runs(&self) -> u32 {
        self.correct + self.partly + self.wrong
    }
}
