//! Renders the model into log lines: background traffic, the fault's own
//! messages on its target, what callers log about failing dependencies, and
//! unrelated noise. Three line styles (plain, logfmt, JSON) as real fleets mix.

use super::dynamics::{CODES, Dynamics, Edge, Pod, PodEnd, Svc};
use super::rng::Rng;
use super::scenario::{ChangeKind, FaultSpec, NoiseKind, Scenario, ServiceKind};
use crate::model::FaultKind;
use crate::sources::telemetry::LogLine;

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Logfmt,
    Json,
}

struct Writer<'a> {
    out: Vec<LogLine>,
    d: &'a Dynamics,
}

impl Writer<'_> {
    #[allow(clippy::too_many_arguments)]
    fn line(&mut self, si: usize, i: usize, r: &mut Rng, level: &str, style: Style, msg: String, pod: Option<String>) {
        let s = &self.d.svcs[si];
        let offset_ns = (r.f64() * self.d.step_ms as f64 * 1e6) as i64;
        let ts = self.d.time(i) + offset_ns;
        let pod = pod.or_else(|| {
            let live: Vec<&str> = s
                .pods
                .iter()
                .filter(|p| p.alive_at(i) && !p.pull_failing && p.crashloop_from.is_none_or(|c| i < c))
                .map(|p| p.name.as_str())
                .collect();
            (!live.is_empty()).then(|| r.pick(&live).to_string())
        });
        let message = match style {
            Style::Plain => format!(
                "{} {:<5} {}",
                ts.to_rfc3339_nanos().get(..23).unwrap_or(""),
                level.to_uppercase(),
                msg
            ),
            Style::Logfmt => format!("ts={} level={} msg={:?}", ts.to_rfc3339(), level, msg),
            Style::Json => {
                serde_json::json!({"ts": ts.to_rfc3339_nanos(), "level": level, "msg": msg, "service": s.name})
                    .to_string()
            }
        };
        self.out.push(LogLine {
            ts,
            service: s.name.clone(),
            namespace: Some(s.namespace.clone()),
            pod,
            level: level.to_string(),
            message,
        });
    }
}

fn style_of(seed: u64, svc: &str, kind: ServiceKind) -> Style {
    if matches!(kind, ServiceKind::Db | ServiceKind::Cache | ServiceKind::Queue) {
        return Style::Plain;
    }
    match Rng::keyed(seed, &format!("style/{svc}")).below(3) {
        0 => Style::Plain,
        1 => Style::Logfmt,
        _ => Style::Json,
    }
}

fn ip(r: &mut Rng) -> String {
    format!("10.{}.{}.{}", 1 + r.below(3), r.below(250), 2 + r.below(250))
}

fn background(kind: ServiceKind, svc: &str, lat: f64, r: &mut Rng) -> (String, &'static str) {
    let id = r.below(90_000) + 10_000;
    match kind {
        ServiceKind::Db => {
            let m = match r.below(4) {
                0 => format!(
                    "LOG:  checkpoint complete: wrote {} buffers ({:.1}%); 0 WAL file(s) added",
                    r.below(900) + 20,
                    r.f64() * 3.0
                ),
                1 => format!(
                    "LOG:  automatic vacuum of table \"app.public.{}\": index scans: 1",
                    r.pick(&["orders", "items", "sessions", "payments"])
                ),
                2 => format!(
                    "LOG:  duration: {:.3} ms  statement: SELECT id FROM {} WHERE id = {id}",
                    lat * r.range(0.5, 1.5),
                    r.pick(&["orders", "users", "items"])
                ),
                _ => "LOG:  checkpoint starting: time".to_string(),
            };
            (m, "info")
        }
        ServiceKind::Cache => (
            match r.below(2) {
                0 => format!("* {} changes in 60 seconds. Saving...", r.below(20_000) + 100),
                _ => format!(
                    "* Background saving terminated with success ({} keys)",
                    r.below(500_000) + 1000
                ),
            },
            "info",
        ),
        ServiceKind::Queue => (
            format!(
                "[Log partition={}-{}] Rolled new log segment at offset {}",
                svc,
                r.below(12),
                r.below(9_000_000)
            ),
            "info",
        ),
        ServiceKind::Worker => (
            format!(
                "processed batch of {} messages in {}ms",
                r.below(200) + 20,
                (lat * r.range(0.6, 1.6)) as u64
            ),
            "info",
        ),
        _ => {
            let path = r
                .pick(&["items", "cart", "orders", "users/me", "health", "search"])
                .to_string();
            (
                format!(
                    "GET /api/{}/{} 200 {}ms",
                    svc.split('-').next().unwrap_or(svc),
                    path,
                    (lat * r.range(0.5, 1.8)).max(1.0) as u64
                ),
                "info",
            )
        }
    }
}

fn own_fault_line(
    kind: FaultKind,
    svc: &str,
    skind: ServiceKind,
    r: &mut Rng,
    d: &Dynamics,
    si: usize,
    i: usize,
) -> Option<(String, &'static str)> {
    let s = &d.svcs[si];
    Some(match kind {
        FaultKind::DiskFull => (
            format!("failed to write segment: write /var/lib/{svc}/data/segment-{:06}.log: no space left on device", r.below(999_999)),
            "error",
        ),
        FaultKind::BadDeploy => {
            if Rng::keyed(0, svc).below(2) == 0 {
                (
                    format!("unhandled exception in GET /api/{svc}: java.lang.NullPointerException: Cannot invoke \"Order.getId()\" because \"order\" is null at com.shop.{}.Mapper.map(Mapper.java:{})", svc.replace('-', ""), 100 + r.below(200)),
                    "error",
                )
            } else {
                (
                    format!("panic recovered in handler /api/{svc}: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV: segmentation violation code=0x1 addr=0x{:x}]", r.below(4096)),
                    "error",
                )
            }
        }
        FaultKind::ConfigError => (
            match r.below(2) {
                0 => format!("rejecting request: invalid configuration: upstream_timeout \"{}\" is missing a unit", 30 + r.below(30)),
                _ => "config validation failed: key \"rate_limit.burst\" must be a positive integer, got \"-1\"; refusing traffic".to_string(),
            },
            "error",
        ),
        FaultKind::ConnectionPoolExhaustion => {
            if skind == ServiceKind::Db {
                (format!("FATAL:  sorry, too many clients already (pid {})", 1000 + r.below(60_000)), "error")
            } else {
                (format!("HikariPool-1 - Connection is not available, request timed out after {}ms (total={}, active={}, idle=0, waiting={})", 30_000, 40, 40, r.below(80) + 5), "error")
            }
        }
        FaultKind::AuthFailure => (
            format!("authentication failed: token signature invalid for client credentials (kid=k{}), responding 401", r.below(9) + 1),
            "warn",
        ),
        FaultKind::CpuSaturation => (
            match r.below(2) {
                0 => format!("request queue saturated: {} requests waiting for a worker thread", r.below(400) + 50),
                _ => format!("event loop blocked for {}ms", (s.self_ms[i] * r.range(2.0, 6.0)) as u64),
            },
            "warn",
        ),
        FaultKind::QueueBacklog => {
            let lag = s.lag.first().map(|(t, l)| (t.clone(), l[i])).unwrap_or_default();
            (
                format!("consumer group {svc} is {} messages behind on topic {}; batch took {}ms", lag.1 as u64, lag.0, (s.self_ms[i] * r.range(5.0, 20.0)) as u64),
                "warn",
            )
        }
        FaultKind::CacheFailure => (
            match r.below(2) {
                0 => "# WARNING: evicting keys: used_memory exceeds maxmemory (policy allkeys-lru)".to_string(),
                _ => format!("# Connection with client {}:{} lost: timeout", ip(r), 30_000 + r.below(30_000)),
            },
            "warn",
        ),
        FaultKind::MemoryLeak => (
            format!("GC pause {}ms: heap {} MiB of {} MiB in use", 50 + r.below(900), (s.mem_limit * 0.9 / 1048576.0) as u64, (s.mem_limit / 1048576.0) as u64),
            "warn",
        ),
        FaultKind::NodePressure => (
            format!("slow request: GET /api/{svc} took {}ms", (s.latency_ms[i] * r.range(2.0, 4.0)) as u64),
            "warn",
        ),
        _ => return None,
    })
}

/// All log lines of the scenario, in time order.
pub fn render(sc: &Scenario, d: &Dynamics) -> Vec<LogLine> {
    let mut w = Writer { out: Vec::new(), d };
    for (si, s) in d.svcs.iter().enumerate() {
        let mut v = Voice {
            sc,
            d,
            si,
            s,
            style: style_of(sc.seed, &s.name, s.kind),
            r: Rng::keyed(sc.seed, &format!("logs/{}", s.name)),
        };
        let faults: Vec<_> = sc.faults.iter().filter(|f| f.target == s.name).collect();
        let base_lat = s.latency_ms.first().copied().unwrap_or(10.0);
        for i in 0..d.n {
            if s.ready[i] <= 0.0 && s.kind != ServiceKind::Worker {
                continue;
            }
            v.background(&mut w, i);
            v.own_faults(&mut w, i, &faults);
            for p in &s.pods {
                v.container(&mut w, i, p);
            }
            for e in d.edges.iter().filter(|e| e.from == si) {
                v.dependency(&mut w, i, e);
            }
            if s.kind == ServiceKind::Db && s.latency_ms[i] > base_lat * 5.0 && v.r.chance(0.7) {
                let m = format!(
                    "LOG:  duration: {:.3} ms  statement: SELECT * FROM orders WHERE customer_id = {}",
                    s.latency_ms[i] * v.r.range(3.0, 10.0),
                    v.r.below(90_000)
                );
                v.say(&mut w, i, "warn", m, None);
            }
        }
    }
    changes(&mut w, sc);
    noise(&mut w, sc);
    let mut out = w.out;
    out.sort_by(|a, b| {
        a.ts.cmp(&b.ts)
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.message.cmp(&b.message))
    });
    out
}

/// One service's lines over the window. A single keyed stream feeds them
/// all, so the steps must draw from it in this order: background, own
/// faults, containers, dependencies, slow queries.
struct Voice<'a> {
    sc: &'a Scenario,
    d: &'a Dynamics,
    si: usize,
    s: &'a Svc,
    style: Style,
    r: Rng,
}

impl Voice<'_> {
    fn say(&mut self, w: &mut Writer, i: usize, level: &str, msg: String, pod: Option<String>) {
        w.line(self.si, i, &mut self.r, level, self.style, msg, pod);
    }

    /// Background traffic and the odd unrelated warning or error.
    fn background(&mut self, w: &mut Writer, i: usize) {
        let s = self.s;
        for _ in 0..self.r.poisson(1.3) {
            let (m, lvl) = background(s.kind, &s.name, s.latency_ms[i], &mut self.r);
            self.say(w, i, lvl, m, None);
        }
        if self.r.chance(0.03) {
            let r = &mut self.r;
            let m = match r.below(3) {
                0 => format!(
                    "request canceled by client: context canceled (request_id={})",
                    r.hex(12)
                ),
                1 => format!(
                    "retrying metrics export to otel-collector: {}",
                    r.pick(&["connection reset by peer", "EOF"])
                ),
                _ => "slow consumer detected on internal event bus, dropping 1 event".to_string(),
            };
            let lvl = if r.chance(0.5) { "warn" } else { "error" };
            self.say(w, i, lvl, m, None);
        }
    }

    /// What the service's own fault makes it say.
    fn own_faults(&mut self, w: &mut Writer, i: usize, faults: &[&FaultSpec]) {
        let s = self.s;
        let t_ms = (i as i64) * self.d.step_ms;
        for f in faults {
            let active = t_ms >= f.at_ms && f.duration_ms.is_none_or(|du| t_ms < f.at_ms + du);
            if !active {
                continue;
            }
            let own = s.own_errs[i].total();
            let rate = match f.kind {
                FaultKind::DiskFull | FaultKind::BadDeploy | FaultKind::ConfigError | FaultKind::AuthFailure => {
                    (40.0 * own).min(9.0)
                }
                FaultKind::ConnectionPoolExhaustion => 1.5 + 5.0 * f.severity,
                FaultKind::CpuSaturation => 0.8 + 2.0 * s.throttle[i],
                FaultKind::QueueBacklog => 0.8,
                FaultKind::CacheFailure => 0.8 + 2.0 * f.severity,
                FaultKind::MemoryLeak => {
                    let since = (t_ms - f.at_ms) as f64 / 60_000.0;
                    (0.2 + since * 0.15).min(2.0)
                }
                FaultKind::NodePressure => 1.0 + 2.0 * f.severity,
                _ => 0.0,
            };
            for _ in 0..self.r.poisson(rate) {
                if let Some((m, lvl)) = own_fault_line(f.kind, &s.name, s.kind, &mut self.r, self.d, self.si, i) {
                    self.say(w, i, lvl, m, None);
                }
            }
        }
    }

    /// Container starts and deaths.
    fn container(&mut self, w: &mut Writer, i: usize, p: &Pod) {
        let s = self.s;
        let version_at = |i: usize| {
            s.version
                .iter()
                .rev()
                .find(|(vi, _)| *vi <= i)
                .map(|v| v.1.as_str())
                .unwrap_or("")
        };
        for (k, reason, _) in &p.restarts {
            if *k != i {
                continue;
            }
            let ver = version_at(i);
            if *reason == "OOMKilled" {
                let m = format!(
                    "fatal error: runtime: out of memory (heap {} MiB)",
                    (s.mem_limit / 1048576.0) as u64
                );
                self.say(w, i.saturating_sub(1), "error", m, Some(p.name.clone()));
            }
            // A crash-looping container says why before it dies.
            let fatal = (*reason == "Error" && p.crashloop_from.is_some()).then(|| {
                match Rng::keyed(self.sc.seed, &s.name).below(3) {
                    0 => format!(
                        "FATAL: failed to start: open /etc/{}/config.yaml: no such file or directory",
                        s.name
                    ),
                    1 => "FATAL: migration 0042_add_order_index failed: relation \"orders_idx\" already exists"
                        .to_string(),
                    _ => "panic: failed to connect to secrets provider: missing environment variable VAULT_ADDR"
                        .to_string(),
                }
            });
            self.say(w, i, "info", format!("starting {} {ver}", s.name), Some(p.name.clone()));
            if let Some(m) = fatal {
                self.say(w, i, "error", m, Some(p.name.clone()));
            }
        }
        if p.from_i == i && i > 0 && !p.pull_failing {
            let ver = version_at(i);
            self.say(w, i, "info", format!("starting {} {ver}", s.name), Some(p.name.clone()));
        }
        if p.to_i == Some(i) && p.end == Some(PodEnd::Evicted) {
            let m = "received SIGTERM, draining connections".to_string();
            self.say(w, i.saturating_sub(1), "warn", m, Some(p.name.clone()));
        }
    }

    /// What it says about one of its dependencies.
    fn dependency(&mut self, w: &mut Writer, i: usize, e: &Edge) {
        let (sc, d) = (self.sc, self.d);
        let peer = &d.svcs[e.to];
        let calls = e.rps[i] * d.step_s();
        let tr = e.transport[i];
        let t_ms = (i as i64) * d.step_ms;
        let callee_faults: Vec<FaultKind> = sc
            .faults
            .iter()
            .filter(|f| f.target == peer.name && t_ms >= f.at_ms && f.duration_ms.is_none_or(|du| t_ms < f.at_ms + du))
            .map(|f| f.kind)
            .collect();
        let lines = |frac: f64, r: &mut Rng| r.poisson((45.0 * frac).min(8.0).min(calls * frac));
        let host = format!("{}.{}.svc.cluster.local", peer.name, peer.namespace);
        for _ in 0..lines(tr.dns, &mut self.r) {
            let m = format!(
                "request to {} failed: dial tcp: lookup {host} on 10.96.0.10:53: no such host",
                peer.name
            );
            self.say(w, i, "error", m, None);
        }
        for _ in 0..lines(tr.tls, &mut self.r) {
            let now = d.time(i).to_rfc3339();
            self.say(w, i, "error", format!("request to {} failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {now} is after {}", peer.name, sc.start.to_rfc3339()), None);
        }
        for _ in 0..lines(tr.refused, &mut self.r) {
            let addr = ip(&mut self.r);
            let m = format!(
                "request to {} failed: dial tcp {addr}:8080: connect: connection refused",
                peer.name
            );
            self.say(w, i, "error", m, None);
        }
        let loss = callee_faults.contains(&FaultKind::PacketLoss);
        for _ in 0..lines(tr.timeout, &mut self.r) {
            let r = &mut self.r;
            let msg = if loss && r.chance(0.6) {
                let (a, b) = (ip(r), ip(r));
                format!(
                    "retrying request to {} (attempt 2/3): read tcp {a}:{}->{b}:8080: read: connection reset by peer",
                    peer.name,
                    30_000 + r.below(30_000)
                )
            } else if peer.kind == ServiceKind::Db && callee_faults.contains(&FaultKind::ConnectionPoolExhaustion) {
                format!(
                    "could not acquire a connection to {} from the pool: timeout after 5000ms",
                    peer.name
                )
            } else {
                format!(
                    "request to {} failed: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    peer.name
                )
            };
            self.say(w, i, "error", msg, None);
        }
        for (k, code) in CODES.iter().enumerate() {
            let frac = e.errs[i].0[k];
            let text = match code {
                500 => "500 Internal Server Error",
                502 => "502 Bad Gateway",
                503 => "503 Service Unavailable",
                504 => "504 Gateway Timeout",
                _ => "401 Unauthorized",
            };
            for _ in 0..lines(frac * 0.6, &mut self.r) {
                self.say(w, i, "error", format!("upstream {} returned {text}", peer.name), None);
            }
        }
        // Slowness the caller notices.
        let base = e.latency_ms.first().copied().unwrap_or(1.0);
        if e.latency_ms[i] > (base * 4.0).max(base + 150.0) && self.r.chance(0.6) {
            let m = format!(
                "slow upstream {}: request took {}ms",
                peer.name,
                (e.latency_ms[i] * self.r.range(0.8, 1.6)) as u64
            );
            self.say(w, i, "warn", m, None);
        }
        if peer.kind == ServiceKind::Cache && peer.hit_ratio[i] < 0.6 {
            for _ in 0..self.r.poisson(1.5) {
                let m = format!(
                    "cache miss for key session:{}, loading from the database",
                    self.r.hex(8)
                );
                self.say(w, i, "warn", m, None);
            }
        }
    }
}

/// Changes announce themselves.
fn changes(w: &mut Writer, sc: &Scenario) {
    let d = w.d;
    for c in &d.changes {
        if let Some(&si) = d.index.get(&c.target) {
            let mut r = Rng::keyed(sc.seed, &format!("change/{}/{}", c.target, c.i));
            let style = style_of(sc.seed, &c.target, d.svcs[si].kind);
            let msg = match c.kind {
                ChangeKind::ConfigChange => format!("configuration reloaded: {}", c.summary),
                ChangeKind::FeatureFlag => format!("feature flags updated: {}", c.summary),
                ChangeKind::Scale => format!("replica count changed: {}", c.summary),
                _ => continue,
            };
            w.line(si, c.i, &mut r, "info", style, msg, None);
        }
    }
}

/// Unrelated trouble: the red herrings.
fn noise(w: &mut Writer, sc: &Scenario) {
    let d = w.d;
    for nz in &sc.noise {
        let Some(&si) = d.index.get(&nz.target) else { continue };
        let mut r = Rng::keyed(sc.seed, &format!("noise/{}/{}", nz.target, nz.at_ms));
        let style = style_of(sc.seed, &nz.target, d.svcs[si].kind);
        let at = (nz.at_ms / d.step_ms) as usize;
        match nz.kind {
            NoiseKind::LogErrors => {
                let end = ((nz.at_ms + nz.duration_ms.unwrap_or(600_000)) / d.step_ms) as usize;
                let sev = nz.severity.unwrap_or(0.5);
                let variant = r.below(3);
                for i in at..end.min(d.n) {
                    for _ in 0..r.poisson(1.0 + 5.0 * sev) {
                        let m = match variant {
                            0 => format!(
                                "failed to render thumbnail img-{}: image decoder error: unexpected EOF",
                                r.below(90_000)
                            ),
                            1 => format!(
                                "feature-flag refresh failed: GET http://flags.internal/v1/flags: 500 (attempt {})",
                                1 + r.below(3)
                            ),
                            _ => format!("dropping analytics event {}: payload exceeds 64KiB", r.hex(10)),
                        };
                        w.line(si, i, &mut r, "error", style, m, None);
                    }
                }
            }
            NoiseKind::LatencyBlip => {
                let m = format!("slow request: GC pause {}ms", 200 + r.below(600));
                w.line(si, at, &mut r, "warn", style, m, None);
            }
            NoiseKind::Restart => {}
        }
    }
}
