//! Commands: what anyone (the cockpit, a test, a remote client) asks of the engine.

use serde::{Deserialize, Serialize};

use super::{BudgetPatch, SpanId};

/// Where guidance applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "branch", rename_all = "snake_case")]
pub enum Scope {
    Investigation,
    Branch(SpanId),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    InjectGuidance { scope: Scope, text: String },
    Prune { branch: SpanId },
    Pause { branch: SpanId },
    Resume { branch: SpanId },
    Fork { branch: SpanId, guidance: String },
    SetBudget { budget: BudgetPatch },
    Stop,
}

/// A command and who sent it: what the engine's command channel carries. The
/// author names the sender in the events the command causes ("pruned by
/// alice"); `None` is the investigation's own author (the local cockpit).
#[derive(Clone, Debug, PartialEq)]
pub struct Authored {
    pub command: Command,
    pub author: Option<String>,
}

impl From<Command> for Authored {
    fn from(command: Command) -> Authored {
        Authored { command, author: None }
    }
}
