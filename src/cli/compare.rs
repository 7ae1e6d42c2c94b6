//! `inquest eval --bundle CANDIDATE --against BASELINE [--gate ...]`: both
//! bundles on the same suite in one go, compared, and gated.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::bundle::options_for;
use super::{Failure, author, runtime};
use crate::eval::compare::{Comparison, Side};
use crate::wire::Options;

/// The exit code of a candidate that regresses past the gate.
pub const GATE_FAILED: u8 = 3;

/// The scenario files under `dir`, or an error naming it.
fn suite(dir: &std::path::Path) -> Result<Vec<PathBuf>, Failure> {
    let paths = crate::eval::discover(dir).map_err(|e| Failure::BadInput(format!("{}: {e}", dir.display())))?;
    if paths.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}: no scenario files (*.toml) found",
            dir.display()
        )));
    }
    Ok(paths)
}

pub(super) fn eval_against(
    dir: Option<PathBuf>,
    candidate: Option<PathBuf>,
    baseline: &PathBuf,
    gate: Option<&str>,
    json: bool,
    jobs: Option<usize>,
) -> Result<ExitCode, Failure> {
    let clauses = match gate {
        Some(g) => crate::eval::gate::parse(g).map_err(Failure::BadInput)?,
        None => Vec::new(),
    };
    let base = Options {
        author: author(),
        ..Options::default()
    };
    let (cand_opts, cand) = options_for(candidate.as_ref(), base.clone())?;
    let (base_opts, basel) = options_for(Some(baseline), base)?;
    let cand_id = crate::wire::parts(&cand_opts)?.id;
    let base_id = crate::wire::parts(&base_opts)?.id;
    // The suite: the directory given, else the candidate's, else the baseline's, else the built-in one.
    let dir = dir
        .or_else(|| cand.as_ref().and_then(|l| l.bundle.suite_dir(&l.dir)))
        .or_else(|| basel.as_ref().and_then(|l| l.bundle.suite_dir(&l.dir)));
    let paths = dir.as_deref().map(suite).transpose()?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let rt = runtime(jobs.clamp(1, 8))?;
    let eval_opts = |run: Options| crate::eval::EvalOptions {
        // Both sides at once, sharing the jobs.
        jobs: jobs.div_ceil(2).max(1),
        run,
    };
    let (c, b) = (eval_opts(cand_opts), eval_opts(base_opts));
    let (c_report, b_report) = rt.block_on(async {
        match &paths {
            Some(p) => tokio::join!(crate::eval::run(p, &c), crate::eval::run(p, &b)),
            None => tokio::join!(crate::eval::run_builtin(&c), crate::eval::run_builtin(&b)),
        }
    });
    let name = |l: &Option<crate::wire::bundle::Loaded>| {
        l.as_ref()
            .map(|l| l.file.clone())
            .unwrap_or_else(|| "built-in default".into())
    };
    let cmp = Comparison::new(
        Side {
            bundle_id: cand_id,
            bundle: name(&cand),
            report: c_report,
        },
        Side {
            bundle_id: base_id,
            bundle: name(&basel),
            report: b_report,
        },
        &clauses,
    );
    let text = if json {
        crate::tools::sanitize::json_pretty(&cmp) + "\n"
    } else {
        crate::eval::compare::table(&cmp)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if cmp.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_FAILED)
    })
}
