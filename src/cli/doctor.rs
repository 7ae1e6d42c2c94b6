//! `inquest doctor`: what the configured sources answer, and what the reasoner
//! can read through them: which metric families and labels the Prometheus has
//! under the profile in force, which it lacks and what that costs, what
//! `service` and `peer_service` turned out to be, and whether the other
//! sources answer at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use super::args::DoctorArgs;
use super::{Failure, runtime, settings};
use crate::config::Settings;
use crate::model::{Timestamp, parse_duration_ms};
use crate::sources::families::{HTTP_CLIENT, HTTP_SERVER, READS};
use crate::sources::prometheus::Prometheus;
use crate::sources::rewrite::Mapping;
use crate::sources::{Backend, ToolData};
use crate::tools::sanitize::clean;

#[derive(Serialize)]
struct Report {
    /// `healthy`, `degraded` or `unreachable`.
    status: &'static str,
    summary: String,
    prometheus: Option<Prom>,
    sources: Vec<Source>,
}

#[derive(Serialize)]
struct Prom {
    url: String,
    answered: bool,
    error: Option<String>,
    metric_names: usize,
    profile: String,
    profile_reason: String,
    window: String,
    families: Vec<FamilyRow>,
    labels: Vec<LabelRow>,
}

#[derive(Serialize)]
struct FamilyRow {
    metric: &'static str,
    /// Its name in this Prometheus.
    as_name: String,
    present: bool,
    core: bool,
    cost: &'static str,
    /// inquest's label names → this family's, where they differ.
    labels: BTreeMap<String, String>,
    /// Labels the reasoner groups this family by that its series lack (inquest's names).
    lacks: Vec<String>,
}

#[derive(Serialize)]
struct LabelRow {
    label: &'static str,
    /// Where its values come from in this Prometheus.
    from: String,
    values: Vec<String>,
    note: String,
}

#[derive(Serialize)]
struct Source {
    name: &'static str,
    url: String,
    answered: bool,
    detail: String,
}

pub(super) fn doctor(a: &DoctorArgs) -> Result<ExitCode, Failure> {
    let s = settings()?;
    let window = parse_duration_ms(&a.window).map_err(|e| Failure::BadInput(format!("--window: {e}")))?;
    let at = match &a.at {
        Some(t) => Timestamp::parse_rfc3339(t).map_err(|e| Failure::BadInput(format!("--at: {e}")))?,
        None => Timestamp::now(),
    };
    let span = (Timestamp::from_millis(at.millis() - window), at);
    let prom = match &s.sources.prometheus {
        Some(p) => {
            let cfg = p.client().map_err(Failure::BadInput)?;
            Some(Prometheus::new(cfg).map_err(Failure::BadInput)?)
        }
        None => None,
    };
    let rt = runtime(2)?;
    let report = rt.block_on(async {
        let p = match &prom {
            Some(p) => Some(examine(p, span, &a.window).await),
            None => None,
        };
        let sources = others(&s, span).await;
        verdict(p, sources)
    });
    if a.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        // Label values and errors are the servers' words: escaped, never obeyed.
        write_out(&format!("{}\n", crate::tools::sanitize::json_safe(&json)));
    } else {
        use std::io::IsTerminal;
        let colour = std::io::stdout().is_terminal() && !crate::config::no_color();
        write_out(&render(&report, colour));
    }
    Ok(if report.status == "healthy" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes to stdout; a reader that went away (`| head`) is no error of ours.
fn write_out(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}

/// The Prometheus as the reasoner would read it.
async fn examine(p: &Prometheus, span: (Timestamp, Timestamp), window: &str) -> Prom {
    let mut out = Prom {
        url: p.describe().trim_start_matches("prometheus:").to_string(),
        answered: false,
        error: None,
        metric_names: 0,
        profile: String::new(),
        profile_reason: String::new(),
        window: window.to_string(),
        families: Vec::new(),
        labels: Vec::new(),
    };
    let names: BTreeSet<String> = match p.metric_names(Some(span)).await {
        Ok(n) => n.into_iter().collect(),
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.answered = true;
    out.metric_names = names.len();
    let m = match p.mapping().await {
        Ok(m) => m.clone(),
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.profile = m.families.profile.name().to_string();
    out.profile_reason = m.families.reason.clone();
    for r in READS {
        let fam = m.families.of(r.metric);
        let as_name = fam
            .and_then(|i| m.families.list[i].stack_name(r.metric))
            .unwrap_or(r.metric)
            .to_string();
        // The plain map, and the family's own over it.
        let mut labels: BTreeMap<String, String> = m
            .labels
            .0
            .iter()
            .chain(fam.iter().flat_map(|&i| m.families.list[i].labels.iter()))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        labels.retain(|a, b| a != b);
        let present = names.contains(&as_name);
        let lacks = if present {
            lacks(p, &m, fam, r.metric, &as_name, span).await
        } else {
            Vec::new()
        };
        out.families.push(FamilyRow {
            metric: r.metric,
            present,
            as_name,
            core: r.core,
            cost: r.cost,
            labels,
            lacks,
        });
    }
    out.labels = labels(p, &m, span).await;
    out
}

/// The labels the reasoner groups a family by that none of its series carry.
async fn lacks(
    p: &Prometheus,
    m: &Mapping,
    fam: Option<usize>,
    metric: &str,
    stack: &str,
    span: (Timestamp, Timestamp),
) -> Vec<String> {
    let Ok(have) = p.labels_of(stack, Some(span)).await else {
        return Vec::new();
    };
    let has = |canon: &str| have.iter().any(|l| *l == m.out_label(fam, canon));
    let mut need = vec!["service"];
    if (metric.starts_with(HTTP_SERVER) || metric.starts_with(HTTP_CLIENT)) && metric.ends_with("_count") {
        need.push("http_response_status_code");
    }
    let mut out: Vec<String> = need.into_iter().filter(|l| !has(l)).map(str::to_string).collect();
    let by_address = m.families.peers.label.as_ref().is_some_and(|l| have.contains(l));
    if metric.starts_with(HTTP_CLIENT) && !has("peer_service") && !by_address {
        out.push("peer_service".into());
    }
    out
}

/// What `service`, `peer_service` and `error_type` turn out to be, read through the mapping.
async fn labels(p: &Prometheus, m: &Mapping, span: (Timestamp, Timestamp)) -> Vec<LabelRow> {
    let secs = (span.1.millis() - span.0.millis()).max(1000) / 1000;
    let server = m.families.of(&format!("{HTTP_SERVER}_count"));
    let client = m.families.of(&format!("{HTTP_CLIENT}_count"));
    let query = |q: String| async move {
        let args = json!({"query": q, "time": span.1.to_rfc3339()});
        match p.call("prometheus_query", &args).await {
            Ok(ToolData::Instant(crate::sources::telemetry::InstantResult::Vector(v))) => Ok(v),
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    };
    let mut rows = Vec::new();
    let services = query(format!(
        "count by (service) (last_over_time({HTTP_SERVER}_count[{secs}s])) or count by (service) (last_over_time(container_memory_working_set_bytes[{secs}s]))"
    ))
    .await;
    let (values, note) = match services {
        Ok(v) => {
            let set: BTreeSet<String> = v
                .iter()
                .map(|s| s.label("service").to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let note = if set.is_empty() {
                "no series carry it: services cannot be told apart".to_string()
            } else {
                format!("{} service{}", set.len(), if set.len() == 1 { "" } else { "s" })
            };
            (set.into_iter().collect(), note)
        }
        Err(e) => (Vec::new(), format!("could not read: {e}")),
    };
    rows.push(LabelRow {
        label: "service",
        from: m.out_label(server, "service"),
        values,
        note,
    });
    let peers = &m.families.peers;
    let from = match &peers.label {
        Some(l) => format!(
            "{} where it is absent, {l}{} ({} in the peers table, {} from the scrape targets)",
            m.out_label(client, "peer_service"),
            peers.port.as_ref().map(|p| format!(":{p}")).unwrap_or_default(),
            peers.table.len(),
            peers.discovered.len()
        ),
        None => m.out_label(client, "peer_service"),
    };
    let calls = query(format!(
        "count by (service, peer_service) (last_over_time({HTTP_CLIENT}_count[{secs}s]))"
    ))
    .await;
    let (values, note) = match calls {
        Ok(v) => {
            let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut unnamed = 0;
            for s in &v {
                match (s.label("service"), s.label("peer_service")) {
                    (a, b) if !a.is_empty() && !b.is_empty() => {
                        edges.entry(a.to_string()).or_default().insert(b.to_string());
                    }
                    _ => unnamed += 1,
                }
            }
            let n: usize = edges.values().map(BTreeSet::len).sum();
            let note = match (n, unnamed) {
                (0, 0) => "no client series: the call graph is unknown".to_string(),
                (0, _) => {
                    "client series name no peer: the call graph is unknown (see [sources.prometheus.peers])".to_string()
                }
                (n, 0) => format!("{n} call{}", if n == 1 { "" } else { "s" }),
                (n, u) => format!("{n} calls; {u} series name no peer"),
            };
            let list = edges
                .into_iter()
                .map(|(a, b)| format!("{a} → {}", b.into_iter().collect::<Vec<_>>().join(", ")))
                .collect();
            (list, note)
        }
        Err(e) => (Vec::new(), format!("could not read: {e}")),
    };
    rows.push(LabelRow {
        label: "peer_service",
        from,
        values,
        note,
    });
    let et = client.and_then(|i| {
        let f = &m.families.list[i];
        f.values.iter().find(|v| v.label == "error_type").map(|v| (f, v))
    });
    let err_label = m.out_label(client, "error_type");
    let stack_metric = client
        .and_then(|i| m.families.list[i].stack_name(&format!("{HTTP_CLIENT}_count")))
        .unwrap_or("")
        .to_string();
    let raw = p.raw_label_values(&err_label, &stack_metric, Some(span)).await;
    let (values, note) = match raw {
        Ok(raw) => {
            let mapped: Vec<String> = raw
                .iter()
                .map(|r| match et.map(|(_, v)| v.class_of(r)) {
                    Some(c) if c.is_empty() => format!("{r} → (an answered call)"),
                    Some(c) if c != *r => format!("{r} → {c}"),
                    _ => r.clone(),
                })
                .collect();
            let note = if raw.is_empty() {
                "no failed calls in the window".to_string()
            } else {
                format!("{} value{}", raw.len(), if raw.len() == 1 { "" } else { "s" })
            };
            (mapped, note)
        }
        Err(e) => (Vec::new(), format!("could not read: {e}")),
    };
    rows.push(LabelRow {
        label: "error_type",
        from: err_label,
        values,
        note,
    });
    rows
}

/// Whether each other configured source answers.
async fn others(s: &Settings, span: (Timestamp, Timestamp)) -> Vec<Source> {
    let mut out = Vec::new();
    let src = &s.sources;
    let http = [
        ("loki", src.loki.as_ref(), "/ready"),
        ("tempo", src.tempo.as_ref(), "/ready"),
        ("jaeger", src.jaeger.as_ref(), "/api/services"),
    ];
    for (name, h, path) in http {
        let Some(h) = h else {
            out.push(Source {
                name,
                url: String::new(),
                answered: false,
                detail: "not configured".into(),
            });
            continue;
        };
        let url = format!("{}{path}", h.url.trim_end_matches('/'));
        let (answered, detail) = match h.http(name) {
            Ok(c) => match c.get(&url, &[], |r| r).await {
                Ok((st, _)) if st < 400 => (true, format!("answers (HTTP {st})")),
                Ok((st, body)) => (false, format!("HTTP {st}: {}", crate::sources::http::head(&body))),
                Err(e) => (false, e.to_string()),
            },
            Err(e) => (false, e),
        };
        out.push(Source {
            name,
            url: h.url.clone(),
            answered,
            detail,
        });
    }
    let missing = |name: &'static str| Source {
        name,
        url: String::new(),
        answered: false,
        detail: "not configured".into(),
    };
    if src.alertmanager.is_none() {
        out.push(missing("alertmanager"));
    }
    if src.kubernetes.is_none() {
        out.push(missing("kubernetes"));
    }
    if let Some(am) = &src.alertmanager {
        let r = crate::sources::alertmanager::Alertmanager::new(&am.url, std::time::Duration::from_secs(10));
        let (answered, detail) = match r {
            Ok(a) => match a.alerts().await {
                Ok(v) => (true, format!("answers: {} alerts firing", v.len())),
                Err(e) => (false, e.to_string()),
            },
            Err(e) => (false, e),
        };
        out.push(Source {
            name: "alertmanager",
            url: am.url.clone(),
            answered,
            detail,
        });
    }
    if let Some(k) = &src.kubernetes {
        let (answered, detail) = match k.client() {
            Ok(c) => {
                let args: Value = json!({"start": span.0.to_rfc3339(), "end": span.1.to_rfc3339()});
                match c.call("k8s_list_deployments", &args).await {
                    Ok(ToolData::Kube(v)) => (
                        true,
                        format!(
                            "answers: {} deployments",
                            v["items"].as_array().map(Vec::len).unwrap_or(0)
                        ),
                    ),
                    Ok(_) => (true, "answers".into()),
                    Err(e) => (false, e.to_string()),
                }
            }
            Err(e) => (false, e),
        };
        out.push(Source {
            name: "kubernetes",
            url: String::new(),
            answered,
            detail,
        });
    }
    out
}

fn verdict(p: Option<Prom>, sources: Vec<Source>) -> Report {
    let failing: Vec<&str> = sources
        .iter()
        .filter(|s| !s.answered && s.detail != "not configured")
        .map(|s| s.name)
        .collect();
    let (status, summary) = match &p {
        None => (
            "degraded",
            "no [sources.prometheus] configured: the reasoner reads no metrics".to_string(),
        ),
        Some(p) if !p.answered => ("unreachable", "Prometheus does not answer".to_string()),
        Some(p) => {
            let core = p.families.iter().filter(|f| f.core).count();
            let absent = p.families.iter().filter(|f| f.core && !f.present).count();
            let lacking = p
                .families
                .iter()
                .filter(|f| f.core && f.present && !f.lacks.is_empty())
                .count();
            let mut parts = Vec::new();
            if absent > 0 {
                parts.push(format!(
                    "{absent} of {core} families read on each investigation are absent"
                ));
            }
            if lacking > 0 {
                let verb = if lacking == 1 { "lacks" } else { "lack" };
                parts.push(format!("{lacking} {verb} labels the reasoner groups by"));
            }
            if !failing.is_empty() {
                parts.push(format!("{} does not answer", failing.join(", ")));
            }
            if parts.is_empty() {
                (
                    "healthy",
                    "every family read on each investigation is present".to_string(),
                )
            } else {
                ("degraded", parts.join("; "))
            }
        }
    };
    Report {
        status,
        summary,
        prometheus: p,
        sources,
    }
}

fn render(r: &Report, colour: bool) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let good = |s: &str| paint("32", s);
    let bad = |s: &str| paint("31", s);
    let warn = |s: &str| paint("33", s);
    let dim = |s: &str| paint("2", s);
    let mut o = String::new();
    match &r.prometheus {
        None => {
            let _ = writeln!(o, "{:<13} {}", "prometheus", warn("not configured"));
        }
        Some(p) => {
            let state = match &p.error {
                None => good(&format!(
                    "answers: {} metric names in the last {}",
                    p.metric_names, p.window
                )),
                Some(e) => bad(&clean(e)),
            };
            let _ = writeln!(o, "{:<13} {}  {state}", "prometheus", clean(&p.url));
            if p.answered && !p.profile.is_empty() {
                let _ = writeln!(
                    o,
                    "{:<13} {}  {}",
                    "profile",
                    p.profile,
                    dim(&format!("({})", clean(&p.profile_reason)))
                );
            }
            if !p.families.is_empty() {
                let _ = writeln!(o, "\nfamilies the reasoner reads");
                let w = p.families.iter().map(|f| f.metric.len()).max().unwrap_or(0);
                for f in &p.families {
                    let mark = match (f.present, f.core) {
                        (true, _) => good("present"),
                        (false, true) => bad("absent "),
                        (false, false) => warn("absent "),
                    };
                    let mut about = String::new();
                    if f.as_name != f.metric {
                        about.push_str(&format!("as {}", clean(&f.as_name)));
                    }
                    // The labels the reasoner groups and filters by; --json lists them all.
                    let read = ["service", "peer_service", "http_response_status_code", "error_type"];
                    let l: Vec<String> = f
                        .labels
                        .iter()
                        .filter(|(a, _)| read.contains(&a.as_str()))
                        .map(|(a, b)| format!("{a}={}", clean(b)))
                        .collect();
                    if !l.is_empty() && f.present {
                        about.push_str(&format!(" {{{}}}", l.join(", ")));
                    }
                    if !f.lacks.is_empty() {
                        let names: Vec<String> = f
                            .lacks
                            .iter()
                            .map(|l| {
                                let theirs = f.labels.get(l).map(String::as_str).unwrap_or(l);
                                if theirs == l {
                                    l.clone()
                                } else {
                                    format!("{theirs} ({l})")
                                }
                            })
                            .collect();
                        about = format!(
                            "{about}; {}",
                            bad(&format!("no {} label: not told apart by it", names.join(", ")))
                        );
                        about = about.trim_start_matches("; ").to_string();
                    }
                    if !f.present {
                        about = format!(
                            "{}{}",
                            if about.is_empty() {
                                String::new()
                            } else {
                                format!("{about}: ")
                            },
                            f.cost
                        );
                    }
                    let _ = writeln!(
                        o,
                        "{}",
                        format!("  {:<w$}  {mark}  {}", f.metric, about.trim()).trim_end()
                    );
                }
            }
            if !p.labels.is_empty() {
                let _ = writeln!(o, "\nlabels");
                for l in &p.labels {
                    let _ = writeln!(o, "  {:<13} from {}: {}", l.label, clean(&l.from), dim(&clean(&l.note)));
                    if l.label == "peer_service" {
                        for v in l.values.iter().take(12) {
                            let _ = writeln!(o, "  {:<13}   {}", "", clean(v));
                        }
                        if l.values.len() > 12 {
                            let _ = writeln!(o, "  {:<13}   … and {} more", "", l.values.len() - 12);
                        }
                    } else if !l.values.is_empty() {
                        let shown: Vec<String> = l.values.iter().take(20).map(|v| clean(v)).collect();
                        let more = if l.values.len() > 20 {
                            format!(", … and {} more", l.values.len() - 20)
                        } else {
                            String::new()
                        };
                        let _ = writeln!(o, "  {:<13}   {}{more}", "", shown.join(", "));
                    }
                }
            }
        }
    }
    let _ = writeln!(o, "\nother sources");
    for s in &r.sources {
        let detail = if s.answered {
            good(&clean(&s.detail))
        } else if s.detail == "not configured" {
            dim(&s.detail)
        } else {
            bad(&clean(&s.detail))
        };
        let url = if s.url.is_empty() {
            String::new()
        } else {
            format!("{}  ", clean(&s.url))
        };
        let _ = writeln!(o, "  {:<13} {url}{detail}", s.name);
    }
    let head = match r.status {
        "healthy" => good("healthy"),
        "degraded" => warn("degraded"),
        _ => bad(r.status),
    };
    let _ = writeln!(o, "\n{head}: {}", r.summary);
    o
}
