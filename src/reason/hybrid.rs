//! The hybrid reasoner: the built-in statistical analysis runs first and its
//! findings (onset, the most changed services, ranked hypotheses with their
//! evidence spans) are handed to the model as a compact board. The model checks
//! or challenges them with a few tool calls, proposes causes and writes the
//! narrative. Models check hypotheses well and search unguided poorly and at
//! unpredictable cost; this spends the model where it is good. When the model
//! proposes nothing, or fails, the statistical hypotheses stand, and the trace
//! says so.

use super::builtin::{Builtin, findings};
use super::llm::Llm;
use super::{BranchCtx, BranchEnd, Reasoner};
use crate::model::BoxFuture;

pub(crate) const CHECK: &str = "The statistical findings below come from an automatic analysis of the same telemetry. \
Check the top hypotheses with one or two targeted tool calls each (the evidence spans are the calls already \
made), challenge them where the evidence disagrees, then call propose_root_cause for what holds, with a statement \
that explains the cause for the incident report.";

pub struct Hybrid {
    builtin: Builtin,
    llm: Llm,
}

impl Hybrid {
    pub fn new(llm: Llm) -> Hybrid {
        Hybrid {
            builtin: Builtin::new(),
            llm,
        }
    }
}

impl Reasoner for Hybrid {
    fn name(&self) -> String {
        format!("hybrid:{}", self.llm.name().trim_start_matches("llm:"))
    }

    fn fingerprint(&self) -> String {
        format!("hybrid/{}/{}", self.builtin.fingerprint(), self.llm.fingerprint())
    }

    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>> {
        Box::pin(async move {
            let found = findings(ctx).await?;
            ctx.think(format!(
                "Statistical analysis done: {} hypotheses handed to the model to check.",
                found.hypotheses.len()
            ));
            let brief = self.llm.brief(ctx, Some(&format!("{CHECK}\n\n{}", found.board)));
            let failure = match self.llm.converse(ctx, &brief).await {
                Ok(o) if o.proposed > 0 => return Ok(()),
                Ok(_) => None,
                Err(BranchEnd::Failed(e)) => Some(e),
                Err(e) => return Err(e),
            };
            if !found.hypotheses.is_empty() {
                ctx.think("The model proposed nothing; the statistical hypotheses stand.");
            }
            for h in found.hypotheses {
                ctx.propose(h).await?;
            }
            match failure {
                Some(e) => Err(BranchEnd::Failed(format!(
                    "{e}; the statistical hypotheses were proposed instead"
                ))),
                None => Ok(()),
            }
        })
    }
}
