//! Reasoners choose tool calls and propose root causes. The engine runs one
//! per branch; both the built-in and (in time) the model-driven reasoner use
//! the same tools through the same guard.

pub mod builtin;
pub mod llm;

use crate::engine::{BranchCtx, BranchEnd};
use crate::model::BoxFuture;

pub trait Reasoner: Send + Sync {
    /// `builtin`, `llm:<model>`, ...
    fn name(&self) -> String;
    /// What shapes its behaviour beyond skills and strategies (prompts, model route), for the bundle id.
    fn fingerprint(&self) -> String;
    /// Runs one branch to its end.
    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>>;
}
