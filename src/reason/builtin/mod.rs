//! The built-in statistical reasoner. Each strategy is a plan of steps; every
//! step works only through the tools (so through the read-only guard) and
//! writes what it learns on the branch's board, which is ranked into
//! hypotheses at the end (and whenever the plan says `rank`).

mod board;
mod changes;
mod drain;
mod kube;
mod logs;
mod metrics;
mod onset;
mod query;
mod resources;

mod traces;

use board::Board;

use crate::model::BoxFuture;
use crate::reason::{BranchCtx, BranchEnd};

use super::Reasoner;

/// Steps a strategy's plan may name.
pub const STEPS: &[&str] = &[
    "discover",
    "onset",
    "red_metrics",
    "resources",
    "logs_scan",
    "traces_scan",
    "changes_scan",
    "k8s_scan",
    "walk",
    "rank",
];

/// How many hypotheses a branch proposes.
const PROPOSE: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct Builtin;

impl Builtin {
    pub fn new() -> Self {
        Builtin
    }
}

async fn step(ctx: &BranchCtx, b: &mut Board, name: &str) -> Result<(), BranchEnd> {
    match name {
        "discover" => metrics::discover(ctx, b).await,
        "onset" => onset::onset(ctx, b).await,
        "red_metrics" => metrics::red(ctx, b).await,
        "resources" => resources::resources(ctx, b).await,
        "walk" => metrics::walk(ctx, b).await,
        "logs_scan" => logs::scan(ctx, b).await,
        "traces_scan" => traces::scan(ctx, b).await,
        "changes_scan" => changes::scan(ctx, b).await,
        "k8s_scan" => kube::scan(ctx, b).await,
        "rank" => rank(ctx, b).await,
        other => Err(BranchEnd::Failed(format!(
            "the strategy names an unknown step `{other}`"
        ))),
    }
}

/// What the statistical analysis of a branch found, proposed nothing yet: a
/// compact board for a model to check (the hybrid reasoner) and the ranked
/// hypotheses that stand if the model proposes none.
pub struct Findings {
    pub board: String,
    pub hypotheses: Vec<crate::model::Hypothesis>,
}

/// Runs the strategy's plan without proposing, and gives what it found.
pub async fn findings(ctx: &BranchCtx) -> Result<Findings, BranchEnd> {
    let mut board = Board::default();
    for name in ctx.strategy.plan.iter().filter(|n| n.as_str() != "rank") {
        step(ctx, &mut board, name).await?;
    }
    let hypotheses = board.hypotheses(&ctx.guidance(), PROPOSE);
    let mut text = board.summary(&hypotheses);
    // A model checking the board must not take a silent source for a healthy one.
    for source in ["prometheus", "loki", "kubernetes", "traces", "changes"] {
        let r = ctx.reads(source);
        if r.answered == 0 && r.failed > 0 {
            let cause = r.cause.unwrap_or_default();
            text.push_str(&format!(
                "\nCould not read {source}: {cause}. Nothing on this board speaks for or against it."
            ));
        }
    }
    Ok(Findings {
        board: text,
        hypotheses,
    })
}

async fn rank(ctx: &BranchCtx, b: &Board) -> Result<(), BranchEnd> {
    let guidance = ctx.guidance();
    let hs = b.hypotheses(&guidance, PROPOSE);
    if hs.is_empty() {
        ctx.think("Nothing points at a cause strongly enough to propose it.");
    }
    for h in hs {
        ctx.propose(h).await?;
    }
    Ok(())
}

impl Reasoner for Builtin {
    fn name(&self) -> String {
        "builtin".to_string()
    }

    fn fingerprint(&self) -> String {
        format!("builtin/{}", STEPS.join(","))
    }

    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>> {
        Box::pin(async move {
            let mut board = Board::default();
            let plan = ctx.strategy.plan.clone();
            let guidance = ctx.guidance();
            if !guidance.is_empty() {
                ctx.think(format!("Taking guidance into account: {}", guidance.join(" / ")));
            }
            for name in &plan {
                step(ctx, &mut board, name).await?;
            }
            if plan.last().map(String::as_str) != Some("rank") {
                rank(ctx, &board).await?;
            }
            Ok(())
        })
    }
}
