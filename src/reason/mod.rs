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
pub use branch::{BranchCtx, BranchEnd, BranchPort, Called, SourceReads};

/// The prompts a model is sent beyond the skills' and strategies' own (those
/// are in the catalog's fingerprint): the rules, the nudge and the hybrid's check.
pub fn prompt_set() -> [(&'static str, &'static str); 3] {
    [
        ("rules", llm::RULES),
        ("nudge", llm::agent::NUDGE),
        ("hybrid-check", hybrid::CHECK),
    ]
}

/// `sha256:` and 16 hex digits over [`prompt_set`].
pub fn prompt_set_hash() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, text) in prompt_set() {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(text.as_bytes());
        h.update(b"\0");
    }
    let d = h.finalize();
    format!(
        "sha256:{}",
        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    )
}

pub trait Reasoner: Send + Sync {
    /// `builtin`, `llm:<model>`, ...
    fn name(&self) -> String;
    /// What shapes its behaviour beyond skills and strategies (prompts, model route), for the bundle id.
    fn fingerprint(&self) -> String;
    /// Runs one branch to its end.
    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>>;
}
