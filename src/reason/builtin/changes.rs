//! Change step: the changes shortly before the onset, each judged by whether
//! the changed service (or its callers' view of it) got worse after it.

use serde_json::json;

use super::board::Board;
use super::query::{Since, range, ts};
use crate::model::{FaultKind, SpanId, Timestamp};
use crate::reason::{BranchCtx, BranchEnd};
use crate::sources::ToolData;
use crate::sources::telemetry::Change;
use crate::tools::stats::{change_point, median, robust_z, split};

/// How far before the onset a change is a suspect.
const LOOKBACK_MS: i64 = 60 * 60_000;
const MAX_JUDGED: usize = 5;

/// How much worse `service` got after `at`: (score, evidence, what changed).
async fn judge(ctx: &BranchCtx, service: &str, at: i64, now: i64) -> Result<(f64, Vec<SpanId>, String), BranchEnd> {
    let start = at - 25 * 60_000;
    let sel = format!("service=\"{service}\"");
    let peer = format!("peer_service=\"{service}\"");
    let qs = [
        (
            format!(
                "(sum(rate(http_server_request_duration_seconds_count{{{sel},http_response_status_code=~\"5..|401|403\"}}[1m])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{{{sel}}}[1m]))"
            ),
            "errors",
            0.003,
        ),
        (
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{{{sel}}}[1m])))"
            ),
            "p99",
            0.005,
        ),
        (
            format!(
                "(sum(rate(http_client_request_duration_seconds_count{{{peer},error_type!=\"\"}}[1m])) or vector(0)) / sum(rate(http_client_request_duration_seconds_count{{{peer}}}[1m]))"
            ),
            "failed calls to it",
            0.003,
        ),
        (
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{{{peer}}}[1m])))"
            ),
            "callers' p99",
            0.005,
        ),
        (
            format!("sum(increase(kube_pod_container_status_restarts_total{{{sel}}}[5m]))"),
            "restarts",
            0.5,
        ),
    ];
    let mut best = (0.0f64, Vec::new(), String::new());
    let mut best_dim: (&str, f64) = ("", 0.0);
    for (q, what, floor) in qs {
        let Some((series, ev)) = range(ctx, &q, start, now, "30s").await? else {
            continue;
        };
        for s in series {
            let (bf, af) = split(&s.samples, at);
            if af.is_empty() {
                continue;
            }
            let z = robust_z(&bf, &af, floor);
            let mb = median(&bf).unwrap_or(0.0);
            let ma = median(&af).unwrap_or(0.0);
            let rel = if what == "restarts" {
                ma - mb
            } else {
                (ma - mb) / mb.abs().max(floor * 2.0)
            };
            let mut score = if z > 5.0 && rel > 0.5 {
                (z / 10.0).min(2.0) + rel.min(3.0) / 3.0
            } else {
                0.0
            };
            // A change that bites shows at once; trouble that starts many
            // minutes later, with everything else, has another cause.
            let xs: Vec<f64> = s.samples.iter().map(|x| x.1).collect();
            let lag_min = change_point(&xs, bf.len().max(4), 3, 6.0, floor)
                .map(|k| (s.samples[k].0 - at) as f64 / 60_000.0)
                .unwrap_or(0.0);
            let late = lag_min > 4.0;
            if late {
                score *= 0.5;
            }
            if score > best.0 {
                let fmt = |v: f64| {
                    if what.contains("p99") {
                        format!("{:.0} ms", v * 1000.0)
                    } else if what == "restarts" {
                        format!("{v:.0}")
                    } else {
                        format!("{:.1}%", v * 100.0)
                    }
                };
                let when = if late {
                    format!(" from {lag_min:.0} min after it")
                } else {
                    String::new()
                };
                best = (score, vec![ev], format!("{what} {} → {}{when}", fmt(mb), fmt(ma)));
                best_dim = (what, rel);
            }
        }
        if best.0 > 1.5 {
            break;
        }
    }
    // The service's own errors or latency may only be its dependencies' showing through.
    let own = match best_dim.0 {
        "errors" => Some(format!(
            "(sum(rate(http_client_request_duration_seconds_count{{{sel},http_response_status_code!~\"2..|3..\"}}[1m])) or vector(0)) / sum(rate(http_client_request_duration_seconds_count{{{sel}}}[1m]))"
        )),
        "p99" => Some(format!(
            "histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{{{sel}}}[1m])))"
        )),
        _ => None,
    };
    if let Some(q) = own
        && let Some((series, ev)) = range(ctx, &q, start, now, "30s").await?
    {
        for s in series {
            let (bf, af) = split(&s.samples, at);
            let (mb, ma) = (median(&bf).unwrap_or(0.0), median(&af).unwrap_or(0.0));
            let rel = (ma - mb) / mb.abs().max(0.006);
            if robust_z(&bf, &af, 0.003) > 5.0 && rel > 0.5 * best_dim.1 {
                best.0 *= 0.3;
                best.1.push(ev);
                best.2.push_str(", but its calls to its dependencies got as bad");
            }
        }
    }
    Ok(best)
}

fn kind_of(c: &Change) -> FaultKind {
    let s = c.summary.to_lowercase();
    match c.kind.as_str() {
        "config_change"
            if ["password", "secret", "credential", "token", "key"]
                .iter()
                .any(|k| s.contains(k)) =>
        {
            FaultKind::AuthFailure
        }
        "config_change" if ["max_connections", "pool"].iter().any(|k| s.contains(k)) => {
            FaultKind::ConnectionPoolExhaustion
        }
        "config_change" => FaultKind::ConfigError,
        "scale" => FaultKind::ReplicaLoss,
        "restart" => FaultKind::PodCrashloop,
        "feature_flag" => FaultKind::ConfigError,
        _ if s.contains("image") && s.contains("pull") => FaultKind::ImagePullError,
        _ => FaultKind::BadDeploy,
    }
}

pub async fn scan(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let now = ctx.now.millis();
    let onset = b
        .onset
        .unwrap_or(ctx.alert.starts_at.millis() - super::metrics::NO_ONSET_MS);
    let args = json!({"start": ts(onset - LOOKBACK_MS), "end": ts(now)});
    let since = Since::mark(ctx, "changes");
    let Some(called) = ctx.call("changes_list", args).await? else {
        let unread = since
            .unread(ctx)
            .unwrap_or_else(|| "could not read changes".to_string());
        ctx.think(format!("Changes: {unread}."));
        return Ok(());
    };
    let ToolData::Changes(mut changes) = called.data else {
        return Ok(());
    };
    // Nearest the onset first; a change after the onset cannot have caused it.
    changes.retain(|c| c.at.millis() <= onset + 90_000);
    changes.sort_by_key(|c| (onset - c.at.millis()).abs());
    if changes.is_empty() {
        ctx.think("Changes: none in the hour before the onset.");
        return Ok(());
    }
    let mut notes = Vec::new();
    for c in changes.iter().take(MAX_JUDGED) {
        ctx.checkpoint().await?;
        let at = c.at.millis();
        let (score, mut ev, what) = judge(ctx, &c.service, at, now).await?;
        ev.insert(0, called.evidence);
        let mins = (onset - at) as f64 / 60_000.0;
        let when = if mins >= 0.0 {
            format!("{:.0} min before the onset", mins)
        } else {
            "at the onset".to_string()
        };
        if score > 0.0 {
            let closeness = 1.0 / (1.0 + (mins.abs() / 10.0));
            let w = 1.0 + score * (0.8 + 1.5 * closeness);
            let n = format!(
                "{} \"{}\" on {} at {}, {when}; then {what}",
                c.kind,
                c.summary,
                c.service,
                Timestamp::from_millis(at).clock()
            );
            b.add(
                &c.service,
                kind_of(c),
                // A deploy before trouble fits a bad build, a failed pull or a
                // bad config alike; a config change usually says what changed.
                c.kind == "config_change",
                w,
                &ev,
                n.clone(),
            );
            notes.push(n);
        } else {
            notes.push(format!(
                "{} on {} {when}: {} looks as before, not a suspect",
                c.kind, c.service, c.service
            ));
        }
    }
    notes.truncate(6);
    ctx.think(format!("Changes: {}.", notes.join("; ")));
    Ok(())
}
