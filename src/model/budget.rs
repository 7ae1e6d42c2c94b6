//! Limits on what an investigation may spend.

use serde::{Deserialize, Serialize};

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
