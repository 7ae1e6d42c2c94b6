//! Reasoners choose tool calls and propose root causes. The engine runs one
//! per branch through the [`Reasoner`] trait and gives it a [`BranchCtx`];
//! the built-in and the model-driven reasoner use the same tools through the
//! same guard. The composition root (`wire`) picks which one runs.

mod branch;
pub mod builtin;
pub mod guidance;
pub mod hybrid;
pub mod llm;

use crate::model::BoxFuture;
pub use branch::{BranchCtx, BranchEnd, BranchPort, Called};

pub trait Reasoner: Send + Sync {
    /// `builtin`, `llm:<model>`, ...
    fn name(&self) -> String;
    /// What shapes its behaviour beyond skills and strategies (prompts, model route), for the bundle id.
    fn fingerprint(&self) -> String;
    /// Runs one branch to its end.
    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>>;
}
