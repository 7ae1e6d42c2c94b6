//! `inquest replay`: stored investigations run again under a candidate bundle,
//! answered from their recorded tool answers, each conclusion set beside the original.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::bundle::options_for;
use super::{Failure, author, open_store, runtime};
use crate::model::TraceId;
use crate::store::Store;
use crate::tools::sanitize::clean;
use crate::wire::replay::{Cause, causes, original, same, setup};
use crate::wire::{Launch, Options, launch};

#[derive(Serialize)]
struct Side {
    bundle_id: String,
    /// The stored trace: the original's, or the replay's when saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    tool_calls: u32,
    causes: Vec<Cause>,
}

#[derive(Serialize)]
struct Row {
    trace_id: String,
    alert: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate: Option<Side>,
    /// Calls the candidate made that the original never did (answered as failed).
    unanswered: usize,
    /// Guidance an engineer gave the original, which the replay does not repeat.
    steered: usize,
    /// `same` (the same top causes in the same order), `changed`, or `error`.
    verdict: String,
    /// Whether the top cause (service and kind) is the original's.
    top_same: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn one(store: &Store, trace: TraceId, opts: &Options, save: bool) -> Row {
    let mut row = Row {
        trace_id: trace.to_string(),
        alert: String::new(),
        original: None,
        candidate: None,
        unanswered: 0,
        steered: 0,
        verdict: "error".into(),
        top_same: false,
        error: None,
    };
    let o = match original(store, trace) {
        Ok(o) => o,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    row.alert = o.alert.name.clone();
    row.steered = o.steered;
    row.original = Some(Side {
        bundle_id: o.bundle_id.clone(),
        trace_id: None,
        tool_calls: o.tool_calls,
        causes: causes(&o.root_causes),
    });
    let (s, missed) = match setup(&o, opts) {
        Ok(x) => x,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let bundle_id = s.bundle_id.clone();
    let keep = if save { Store::open(store.path()).ok() } else { None };
    let Some(state) = launch(Launch::new(s).store(keep)).wait().await else {
        row.error = Some("the investigation engine failed".into());
        return row;
    };
    let candidate = causes(&state.root_causes);
    let before = row.original.as_ref().map(|s| s.causes.clone()).unwrap_or_default();
    row.top_same = same(&before[..before.len().min(1)], &candidate[..candidate.len().min(1)]);
    row.verdict = if same(&before, &candidate) { "same" } else { "changed" }.into();
    row.unanswered = missed.load(Ordering::Relaxed);
    row.candidate = Some(Side {
        bundle_id,
        trace_id: save.then(|| state.trace_id.to_string()),
        tool_calls: state.tool_calls,
        causes: candidate,
    });
    row
}

fn causes_text(c: &[Cause]) -> String {
    if c.is_empty() {
        return "no root cause".into();
    }
    c.iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {}/{} {:.2}", i + 1, c.service, c.kind, c.confidence))
        .collect::<Vec<_>>()
        .join("  ")
}

fn text(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let note = if r.verdict == "changed" && r.top_same {
            " (the top cause holds)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} {}  {}{note}",
            &r.trace_id[..8.min(r.trace_id.len())],
            r.alert,
            r.verdict
        );
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  {e}");
            continue;
        }
        for (label, s) in [("original ", &r.original), ("candidate", &r.candidate)] {
            if let Some(s) = s {
                let _ = writeln!(
                    out,
                    "  {label} {} {:>4} calls  {}",
                    s.bundle_id,
                    s.tool_calls,
                    causes_text(&s.causes)
                );
            }
        }
        if r.unanswered > 0 {
            let _ = writeln!(
                out,
                "  {} calls of the candidate were not recorded in the original trace",
                r.unanswered
            );
        }
        if r.steered > 0 {
            let _ = writeln!(
                out,
                "  the original was steered {} time(s); the replay was not",
                r.steered
            );
        }
    }
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    let calls = |f: fn(&Row) -> Option<&Side>| rows.iter().filter_map(f).map(|s| s.tool_calls).sum::<u32>();
    let _ = writeln!(
        out,
        "\n{} replayed: {} same, {} changed, {} not replayed · tool calls {} → {} · {} unanswered",
        rows.len(),
        count("same"),
        count("changed"),
        count("error"),
        calls(|r| r.original.as_ref().filter(|_| r.candidate.is_some())),
        calls(|r| r.candidate.as_ref()),
        rows.iter().map(|r| r.unanswered).sum::<usize>()
    );
    clean(&out)
}

pub(super) fn replay(traces: &[String], bundle: Option<PathBuf>, json: bool, save: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let ids = traces
        .iter()
        .map(|t| store.resolve(t).map_err(|e| Failure::BadInput(e.to_string())))
        .collect::<Result<Vec<TraceId>, _>>()?;
    let base = Options {
        author: author(),
        ..Options::default()
    };
    let (opts, _) = options_for(bundle.as_ref(), base)?;
    // A bundle that does not fit this build is refused once, before any replay.
    crate::wire::parts(&opts)?;
    let rt = runtime(2)?;
    let rows: Vec<Row> = rt.block_on(async {
        let mut rows = Vec::new();
        for id in ids {
            rows.push(one(&store, id, &opts, save).await);
        }
        rows
    });
    let out = if json {
        let summary = serde_json::json!({
            "replayed": rows.len(),
            "same": rows.iter().filter(|r| r.verdict == "same").count(),
            "changed": rows.iter().filter(|r| r.verdict == "changed").count(),
            "not_replayed": rows.iter().filter(|r| r.verdict == "error").count(),
        });
        crate::tools::sanitize::json_pretty(&serde_json::json!({"traces": rows, "summary": summary})) + "\n"
    } else {
        text(&rows)
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(if rows.iter().any(|r| r.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
