//! Trace step: where errors originate (the deepest span in error) and where
//! time went (self time per service, and network time per call, before and
//! after the onset).

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::board::Board;
use super::metrics::BASELINE_MS;
use super::metrics::Starved;
use super::query::{Since, ts};
use crate::model::{FaultKind, SpanId};
use crate::reason::{BranchCtx, BranchEnd};
use crate::sources::ToolData;
use crate::sources::telemetry::{Span, TraceSummary};

const PER_SEARCH: usize = 6;

async fn search(ctx: &BranchCtx, args: serde_json::Value) -> Result<Vec<TraceSummary>, BranchEnd> {
    Ok(match ctx.call("traces_search", args).await? {
        Some(c) => match c.data {
            ToolData::TraceList(l) => l,
            _ => vec![],
        },
        None => vec![],
    })
}

async fn get(ctx: &BranchCtx, id: &str) -> Result<Option<(Vec<Span>, SpanId)>, BranchEnd> {
    Ok(match ctx.call("trace_get", json!({"trace_id": id})).await? {
        Some(c) => match c.data {
            ToolData::Trace(spans) => Some((spans, c.evidence)),
            _ => None,
        },
        None => None,
    })
}

/// The callee of a client span: its server child, or the name it calls.
fn callee<'a>(span: &'a Span, children: &[&'a Span]) -> Option<&'a str> {
    if let Some(c) = children.iter().find(|c| c.service != span.service) {
        return Some(&c.service);
    }
    span.name.strip_prefix("call ").map(str::trim)
}

struct Profile {
    /// Mean self time per service, ms per trace.
    self_ms: BTreeMap<String, f64>,
    /// Mean network time per (caller, callee), ms per call.
    net_ms: BTreeMap<(String, String), (f64, usize)>,
}

fn profile(traces: &[Vec<Span>]) -> Profile {
    let mut self_ms: BTreeMap<String, f64> = BTreeMap::new();
    let mut net: BTreeMap<(String, String), (f64, usize)> = BTreeMap::new();
    for spans in traces {
        let kids = children_of(spans);
        for s in spans {
            let children = kids.get(s.span_id.as_str()).cloned().unwrap_or_default();
            let child_ms: f64 = children.iter().map(|c| c.duration_ms).sum();
            let own = (s.duration_ms - child_ms).max(0.0);
            if s.name.starts_with("call ") {
                // A call with no server span below it never got an answer: its
                // time is a timeout, not time on the wire.
                if children.is_empty() {
                    continue;
                }
                if let Some(t) = callee(s, &children) {
                    let e = net.entry((s.service.clone(), t.to_string())).or_default();
                    e.0 += own;
                    e.1 += 1;
                }
            } else {
                *self_ms.entry(s.service.clone()).or_default() += own;
            }
        }
    }
    let n = traces.len().max(1) as f64;
    for v in self_ms.values_mut() {
        *v /= n;
    }
    for v in net.values_mut() {
        v.0 /= v.1.max(1) as f64;
    }
    Profile { self_ms, net_ms: net }
}

/// Spans by their parent's id.
fn children_of(spans: &[Span]) -> HashMap<&str, Vec<&Span>> {
    let mut kids: HashMap<&str, Vec<&Span>> = HashMap::new();
    for s in spans {
        if let Some(p) = &s.parent_id {
            kids.entry(p.as_str()).or_default().push(s);
        }
    }
    kids
}

/// Traces that failed after the onset, all traces after it, and all in the baseline before it;
/// on the alert's service when it serves requests.
async fn searches(ctx: &BranchCtx, b: &Board, onset: i64, now: i64) -> Result<[Vec<TraceSummary>; 3], BranchEnd> {
    let svc = ctx.alert.service().unwrap_or("").to_string();
    let scoped = |mut a: serde_json::Value| {
        if !svc.is_empty() && b.serving.contains(&svc) {
            a["service"] = json!(svc);
        }
        a
    };
    let errs = search(
        ctx,
        scoped(json!({"error": true, "start": ts(onset), "end": ts(now), "limit": 40})),
    )
    .await?;
    let after = search(ctx, scoped(json!({"start": ts(onset), "end": ts(now), "limit": 40}))).await?;
    let before = search(
        ctx,
        scoped(json!({"start": ts(onset - BASELINE_MS), "end": ts(onset), "limit": 40})),
    )
    .await?;
    Ok([errs, after, before])
}

/// The ids of the traces to read: spread over the list, or the slowest.
fn pick(l: &[TraceSummary], slowest: bool) -> Vec<String> {
    let mut v: Vec<&TraceSummary> = l.iter().collect();
    if slowest {
        v.sort_by(|a, b| {
            b.duration_ms
                .total_cmp(&a.duration_ms)
                .then(a.trace_id.cmp(&b.trace_id))
        });
    }
    // Spread the picks over the list rather than the first few.
    let step = (v.len() / PER_SEARCH).max(1);
    v.iter()
        .step_by(step)
        .take(PER_SEARCH)
        .map(|t| t.trace_id.clone())
        .collect()
}

/// (service, how it failed: `own`, `unreached` or `timeout`) → (share of failing traces, evidence)
type Origins = BTreeMap<(String, &'static str), (f64, Vec<SpanId>)>;

/// Errors: who is at the bottom of each failing trace. Also returns how many traces were read.
async fn error_origins(ctx: &BranchCtx, errs: &[TraceSummary]) -> Result<(Origins, usize), BranchEnd> {
    let mut origin = Origins::new();
    let mut err_traces = 0usize;
    for id in pick(errs, false) {
        let Some((spans, ev)) = get(ctx, &id).await? else {
            continue;
        };
        err_traces += 1;
        add_origins(&mut origin, &spans, ev);
    }
    Ok((origin, err_traces))
}

/// Shares one failing trace among its deepest spans in error.
fn add_origins(origin: &mut Origins, spans: &[Span], ev: SpanId) {
    let kids = children_of(spans);
    let leaves: Vec<&Span> = spans
        .iter()
        .filter(|s| s.error)
        .filter(|s| !kids.get(s.span_id.as_str()).is_some_and(|k| k.iter().any(|c| c.error)))
        .collect();
    let share = 1.0 / leaves.len().max(1) as f64;
    for s in leaves {
        let children = kids.get(s.span_id.as_str()).cloned().unwrap_or_default();
        let key = if s.name.starts_with("call ") && children.is_empty() {
            let Some(t) = callee(s, &children) else { continue };
            (
                t.to_string(),
                if s.duration_ms < 100.0 { "unreached" } else { "timeout" },
            )
        } else {
            (s.service.clone(), "own")
        };
        let e = origin.entry(key).or_default();
        e.0 += share;
        if !e.1.contains(&ev) && e.1.len() < 3 {
            e.1.push(ev);
        }
    }
}

/// Blames the common origins of failing traces; returns the services calls to which timed out.
fn blame_origins(b: &mut Board, origin: &Origins, err_traces: usize, notes: &mut Vec<String>) -> Vec<String> {
    let mut timed_out: Vec<String> = Vec::new();
    for ((service, how), (n, ev)) in origin {
        let frac = n / err_traces.max(1) as f64;
        if frac < 0.2 {
            continue;
        }
        let w = 1.0 + 3.0 * frac;
        if *how == "timeout" {
            timed_out.push(service.clone());
        }
        let note = match *how {
            "unreached" => format!(
                "{:.0}% of failing traces end in a call to {service} that never reached it",
                frac * 100.0
            ),
            "timeout" => format!(
                "{:.0}% of failing traces end in a call to {service} that timed out",
                frac * 100.0
            ),
            _ => format!(
                "{:.0}% of failing traces have their deepest error in {service}",
                frac * 100.0
            ),
        };
        let kind = match *how {
            "unreached" => FaultKind::ReplicaLoss,
            "timeout" => FaultKind::NetworkDelay,
            _ => FaultKind::BadDeploy,
        };
        b.add(service, kind, false, w, ev, note.clone());
        *b.anomaly.entry(service.clone()).or_default() += frac;
        notes.push(note);
    }
    timed_out
}

/// Reads the traces that can be read, with their evidence spans.
async fn read_all(ctx: &BranchCtx, ids: Vec<String>) -> Result<(Vec<Vec<Span>>, Vec<SpanId>), BranchEnd> {
    let mut traces = Vec::new();
    let mut evidence = Vec::new();
    for id in ids {
        if let Some((s, ev)) = get(ctx, &id).await? {
            traces.push(s);
            evidence.push(ev);
        }
    }
    Ok((traces, evidence))
}

/// Services whose own time per trace grew most, relative to the largest growth.
fn self_time_grew(b: &mut Board, pa: &Profile, pb: &Profile, ev: &[SpanId], notes: &mut Vec<String>) {
    let mut grew: Vec<(String, f64, f64)> = pa
        .self_ms
        .iter()
        .map(|(s, a)| (s.clone(), *a, pb.self_ms.get(s).copied().unwrap_or(0.0)))
        .filter(|(_, a, bf)| a - bf > 30.0 && *a > 1.8 * bf.max(1.0))
        .collect();
    grew.sort_by(|x, y| (y.1 - y.2).total_cmp(&(x.1 - x.2)));
    let top = grew.first().map(|g| g.1 - g.2).unwrap_or(0.0);
    for (s, a, bf) in grew.iter().take(3) {
        let rel = (a - bf) / top.max(1e-9);
        let n = format!("{s} self time {:.0} ms → {:.0} ms per trace", bf, a);
        b.add(s, FaultKind::CpuSaturation, false, 0.8 + 2.0 * rel, ev, n.clone());
        notes.push(n);
    }
}

/// Calls whose time on the wire grew: (caller, callee, before, after) in ms.
fn net_grew(pa: &Profile, pb: &Profile) -> Vec<(String, String, f64, f64)> {
    pa.net_ms
        .iter()
        .filter_map(|((c, t), (a, _))| {
            let bf = pb.net_ms.get(&(c.clone(), t.clone())).map(|x| x.0).unwrap_or(0.5);
            (a - bf > 40.0 && *a > 3.0 * bf.max(1.0)).then(|| (c.clone(), t.clone(), bf, *a))
        })
        .collect()
}

/// Calls whose time on the wire grew, blamed on the callee's path, or on the
/// callee itself when its process was starved.
fn network_time_grew(
    b: &mut Board,
    (pa, pb): (&Profile, &Profile),
    ev: &[SpanId],
    (timed_out, starved): (&[String], &Starved),
    notes: &mut Vec<String>,
) {
    for (c, t, bf, a) in net_grew(pa, pb) {
        let w = 2.0 + ((a - bf) / 200.0).min(2.0);
        if let Some((why, span)) = starved.get(&t) {
            let n = format!("time between {c} and {t}'s handlers {bf:.0} ms → {a:.0} ms per call while {t} {why}");
            let ev: Vec<SpanId> = ev.iter().copied().chain(*span).collect();
            b.add(&t, FaultKind::CpuSaturation, true, w, &ev, n.clone());
            notes.push(n);
            continue;
        }
        // Slow on the wire and timing out on the wire: packets are being lost.
        let drops = timed_out.contains(&t);
        let n = format!(
            "network time on {c} → {t} {:.0} ms → {:.0} ms per call{}",
            bf,
            a,
            if drops { ", and calls to it time out" } else { "" }
        );
        let kind = if drops {
            FaultKind::PacketLoss
        } else {
            FaultKind::NetworkDelay
        };
        b.add(&t, kind, true, w, ev, n.clone());
        notes.push(n);
    }
}

pub async fn scan(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let now = ctx.now.millis();
    let onset = b
        .onset
        .unwrap_or(ctx.alert.starts_at.millis() - super::metrics::NO_ONSET_MS);
    let since = Since::mark(ctx, "traces");
    let [errs, after, before] = searches(ctx, b, onset, now).await?;
    if errs.is_empty() && after.is_empty() {
        // Nothing sampled is an answer only when the searches answered.
        ctx.think(match since.unread(ctx) {
            Some(unread) => format!("Traces: {unread}."),
            None => "Traces: nothing sampled after the onset.".to_string(),
        });
        return Ok(());
    }
    let (origin, err_traces) = error_origins(ctx, &errs).await?;
    let mut notes = Vec::new();
    let timed_out = blame_origins(b, &origin, err_traces, &mut notes);

    // Time: self time per service and network per call, slow traces after versus before.
    let (after_t, ev_after) = read_all(ctx, pick(&after, true)).await?;
    let (before_t, _) = read_all(ctx, pick(&before, false)).await?;
    if !after_t.is_empty() && !before_t.is_empty() {
        let pa = profile(&after_t);
        let pb = profile(&before_t);
        let ev = &ev_after[..ev_after.len().min(2)];
        self_time_grew(b, &pa, &pb, ev, &mut notes);
        // Time on the wire is a client's time minus its server's: a starved
        // server's queueing, before its span starts, counts there too.
        let starved = if net_grew(&pa, &pb).is_empty() {
            Default::default()
        } else {
            super::metrics::starved(ctx, super::metrics::window(b, ctx)).await?
        };
        network_time_grew(b, (&pa, &pb), ev, (&timed_out, &starved), &mut notes);
    }
    notes.truncate(6);
    let unread = since.unread(ctx).map(|u| format!("; {u}")).unwrap_or_default();
    ctx.think(if notes.is_empty() {
        format!(
            "Traces: {} failing and {} other traces after the onset; no clear origin{unread}.",
            errs.len(),
            after.len()
        )
    } else {
        format!("Traces: {}{unread}.", notes.join("; "))
    });
    Ok(())
}
