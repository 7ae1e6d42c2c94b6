//! The scenario suite runner: every scenario under a directory is investigated
//! headless and its ranked root causes scored against `[truth]` (AC@1 for the
//! service and for service and kind, AC@3, Avg@5), with cost per scenario.

pub mod compare;
pub mod gate;
pub mod heatmap;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::model::{FaultKind, InvestigationStatus, RootCause};
use crate::sources::sim::{Scenario, Simulator, scenario};
use crate::wire::{Launch, Options, for_scenario, launch};

/// How many root causes are scored (Avg@5).
pub const DEPTH: usize = 5;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TruthOut {
    pub service: String,
    pub kind: FaultKind,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Ranked {
    pub service: String,
    pub kind: FaultKind,
    pub confidence: f64,
}

/// One scenario's result.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScenarioResult {
    pub id: String,
    /// Where it was loaded from.
    pub path: String,
    pub truth: Option<TruthOut>,
    pub ranked: Vec<Ranked>,
    /// 1-based rank of the first root cause naming the right service.
    pub rank_service: Option<usize>,
    /// The top root cause names the right service and kind.
    pub kind_right: bool,
    pub wall_ms: u64,
    pub tool_calls: u32,
    pub tokens: u64,
    /// The investigation ended within its budget (no branch ran out).
    pub budget_held: bool,
    pub error: Option<String>,
    /// The scenario's stack tags, for the heat map's rows (not in the JSON report).
    #[serde(skip)]
    pub tags: Vec<String>,
}

impl ScenarioResult {
    fn scored(&self) -> bool {
        self.error.is_none() && self.truth.is_some()
    }
    fn hit_at(&self, k: usize) -> bool {
        self.rank_service.is_some_and(|r| r <= k)
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub scenarios: usize,
    /// Scenarios that could not be loaded or investigated.
    pub failed: usize,
    pub ac1_service: f64,
    pub ac1_service_kind: f64,
    pub ac3_service: f64,
    pub avg5_service: f64,
    pub median_wall_ms: u64,
    pub median_tool_calls: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindSummary {
    pub scenarios: usize,
    pub ac1_service: f64,
    pub ac1_service_kind: f64,
    pub ac3_service: f64,
    pub avg5_service: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub summary: Summary,
    pub by_kind: std::collections::BTreeMap<String, KindSummary>,
    pub scenarios: Vec<ScenarioResult>,
}

#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Investigations run at once.
    pub jobs: usize,
    pub run: Options,
}

/// Every `*.toml` under `dir`, recursively, in name order.
pub fn discover(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn failed(path: &Path, id: String, error: String) -> ScenarioResult {
    ScenarioResult {
        id,
        path: path.display().to_string(),
        truth: None,
        ranked: vec![],
        rank_service: None,
        kind_right: false,
        wall_ms: 0,
        tool_calls: 0,
        tokens: 0,
        budget_held: true,
        error: Some(error),
        tags: Vec::new(),
    }
}

/// Investigates one loaded scenario and scores it.
pub async fn investigate(sc: Scenario, path: &Path, opts: &Options) -> ScenarioResult {
    let id = sc.id.clone();
    let tags = sc.tags.clone();
    // The truth stays here, with the evaluator; the investigation gets a copy without it.
    let truth = sc.truth.clone();
    let mut blind = sc;
    blind.truth = None;
    let t0 = Instant::now();
    let setup = match for_scenario(blind, opts) {
        Ok(s) => s,
        Err(e) => return failed(path, id, e.to_string()),
    };
    let Some(state) = launch(Launch::new(setup)).wait().await else {
        return failed(path, id, "the investigation engine failed".into());
    };
    let wall_ms = t0.elapsed().as_millis() as u64;
    let ranked: Vec<Ranked> = state.root_causes.iter().take(DEPTH).map(ranked).collect();
    let rank_service = truth
        .as_ref()
        .and_then(|t| ranked.iter().position(|r| t.accepts_service(&r.service)).map(|i| i + 1));
    let kind_right = truth
        .as_ref()
        .zip(ranked.first())
        .is_some_and(|(t, r)| t.accepts(&r.service, r.kind));
    let budget_held = state
        .branches
        .iter()
        .all(|b| b.status != crate::model::BranchStatus::OutOfBudget);
    let error = match state.status {
        InvestigationStatus::Failed => Some("the investigation failed".to_string()),
        _ if truth.is_none() => Some("no [truth] to score against".to_string()),
        _ => None,
    };
    ScenarioResult {
        id,
        path: path.display().to_string(),
        truth: truth.map(|t| TruthOut {
            service: t.service,
            kind: t.kind,
        }),
        ranked,
        rank_service,
        kind_right,
        wall_ms,
        tool_calls: state.tool_calls,
        tokens: state.tokens,
        budget_held,
        error,
        tags,
    }
}

fn ranked(r: &RootCause) -> Ranked {
    Ranked {
        service: r.service.clone(),
        kind: r.kind,
        confidence: r.confidence,
    }
}

/// Runs every scenario file, `jobs` at a time; a bad file is a failed row, not a stop.
pub async fn run(paths: &[PathBuf], opts: &EvalOptions) -> Report {
    let sem = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut handles = Vec::new();
    for p in paths {
        let p = p.clone();
        let sem = sem.clone();
        let run_opts = opts.run.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            match scenario::load_file(&p) {
                Ok(sc) => investigate(sc, &p, &run_opts).await,
                Err(e) => failed(&p, stem, e.to_string()),
            }
        }));
    }
    let mut results = Vec::new();
    for (h, p) in handles.into_iter().zip(paths) {
        results.push(
            h.await
                .unwrap_or_else(|e| failed(p, String::new(), format!("panicked: {e}"))),
        );
    }
    summarise(results)
}

/// The built-in scenarios, for tests and `inquest eval` without a directory.
pub async fn run_builtin(opts: &EvalOptions) -> Report {
    let mut results = Vec::new();
    for r in Simulator::builtin() {
        match r {
            Ok(sc) => {
                let path = PathBuf::from(format!("scenarios/{}.toml", sc.id));
                results.push(investigate(sc, &path, &opts.run).await)
            }
            Err(e) => results.push(failed(Path::new(&e.path), String::new(), e.to_string())),
        }
    }
    summarise(results)
}

fn rate(xs: &[&ScenarioResult], f: impl Fn(&ScenarioResult) -> bool) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let r = xs.iter().filter(|x| f(x)).count() as f64 / xs.len() as f64;
    (r * 1000.0).round() / 1000.0
}

fn avg5(xs: &[&ScenarioResult]) -> f64 {
    let s: f64 = (1..=DEPTH).map(|k| rate(xs, |x| x.hit_at(k))).sum();
    ((s / DEPTH as f64) * 1000.0).round() / 1000.0
}

fn median<T: Copy + Ord + Default>(mut v: Vec<T>) -> T {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn summarise(scenarios: Vec<ScenarioResult>) -> Report {
    let scored: Vec<&ScenarioResult> = scenarios.iter().filter(|s| s.scored()).collect();
    let summary = Summary {
        scenarios: scenarios.len(),
        failed: scenarios.len() - scored.len(),
        ac1_service: rate(&scored, |x| x.hit_at(1)),
        ac1_service_kind: rate(&scored, |x| x.kind_right),
        ac3_service: rate(&scored, |x| x.hit_at(3)),
        avg5_service: avg5(&scored),
        median_wall_ms: median(scored.iter().map(|s| s.wall_ms).collect()),
        median_tool_calls: median(scored.iter().map(|s| s.tool_calls).collect()),
    };
    let mut by_kind = std::collections::BTreeMap::new();
    for kind in FaultKind::ALL.iter() {
        let xs: Vec<&ScenarioResult> = scored
            .iter()
            .copied()
            .filter(|s| s.truth.as_ref().is_some_and(|t| t.kind == *kind))
            .collect();
        if xs.is_empty() {
            continue;
        }
        by_kind.insert(
            kind.as_str().to_string(),
            KindSummary {
                scenarios: xs.len(),
                ac1_service: rate(&xs, |x| x.hit_at(1)),
                ac1_service_kind: rate(&xs, |x| x.kind_right),
                ac3_service: rate(&xs, |x| x.hit_at(3)),
                avg5_service: avg5(&xs),
            },
        );
    }
    Report {
        summary,
        by_kind,
        scenarios,
    }
}
