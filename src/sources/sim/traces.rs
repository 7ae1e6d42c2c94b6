//! Renders the model into distributed traces: a client span on the caller and a
//! server span on the callee for every call, so network time, self time and
//! errors can be attributed the way trace analysis does on a real backend.

use super::dynamics::Dynamics;
use super::rng::Rng;
use super::scenario::ServiceKind;
use crate::sources::telemetry::Span;

/// The most spans one trace holds. A call graph where services share callees
/// has exponentially many paths; a real tracer's traces stay bounded too.
/// Also bounds the recursion depth, so no input can overflow the stack.
pub const MAX_TRACE_SPANS: usize = 400;
/// The most spans of a whole scenario: sampling stops there, as a tracer's
/// sampler would, so memory stays bounded however large the topology.
pub const MAX_SPANS: usize = 100_000;

struct Gen<'a> {
    d: &'a Dynamics,
    r: Rng,
    trace_id: String,
    out: Vec<Span>,
    /// Where the current trace's spans start in `out`.
    trace_start: usize,
    /// Outgoing edges per service, computed once.
    calls: Vec<Vec<usize>>,
}

impl Gen<'_> {
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        (median.max(0.01).ln() + sigma * self.r.normal()).exp()
    }

    /// A server span for `s` starting at `start_ns`; returns (duration ms, error).
    fn server(&mut self, s: usize, i: usize, parent: Option<String>, start_ns: i64) -> (f64, bool) {
        let sv = &self.d.svcs[s];
        let span_id = self.r.hex(16);
        let idx = self.out.len();
        let name = match sv.kind {
            ServiceKind::Db => format!("SELECT {}", self.r.pick(&["orders", "items", "users", "payments"])),
            ServiceKind::Cache => "GET".to_string(),
            ServiceKind::Queue => "publish".to_string(),
            _ => format!("GET /api/{}", sv.name.split('-').next().unwrap_or(&sv.name)),
        };
        self.out.push(Span {
            trace_id: self.trace_id.clone(),
            span_id: span_id.clone(),
            parent_id: parent,
            service: sv.name.clone(),
            name,
            start: crate::model::Timestamp(start_ns),
            duration_ms: 0.0,
            error: false,
        });
        let own_err = self.r.chance(sv.own_errs[i].total());
        let mut t = start_ns + (self.lognormal(sv.self_ms[i], sv.sigma) * 0.5e6) as i64;
        let mut err = own_err;
        for k in 0..self.calls[s].len() {
            if self.out.len() - self.trace_start + 2 > MAX_TRACE_SPANS {
                break;
            }
            let edge = &self.d.edges[self.calls[s][k]];
            if !self.r.chance(edge.p_call[i]) || own_err {
                continue;
            }
            let callee = edge.to;
            let tr = edge.transport[i];
            let extra = edge.extra_ms[i];
            let client_id = self.r.hex(16);
            let cidx = self.out.len();
            let peer = self.d.svcs[callee].name.clone();
            self.out.push(Span {
                trace_id: self.trace_id.clone(),
                span_id: client_id.clone(),
                parent_id: Some(span_id.clone()),
                service: sv.name.clone(),
                name: format!("call {peer}"),
                start: crate::model::Timestamp(t),
                duration_ms: 0.0,
                error: false,
            });
            let roll = self.r.f64();
            let (dur, cerr) = if roll < tr.unreached() {
                // Never reached the callee: DNS, TLS or a refused connection.
                (self.lognormal(2.0, 0.5), true)
            } else if roll < tr.total() {
                // Timed out waiting.
                let tmo = if self.d.svcs[callee].kind == ServiceKind::Db {
                    2000.0
                } else {
                    3000.0
                };
                (tmo + self.lognormal(5.0, 0.3), true)
            } else {
                let net = 0.2 + extra * self.r.range(0.7, 1.3) / 2.0;
                let (sd, serr) = self.server(callee, i, Some(client_id.clone()), t + (net * 1e6) as i64);
                (sd + 2.0 * net, serr)
            };
            self.out[cidx].duration_ms = (dur * 1000.0).round() / 1000.0;
            self.out[cidx].error = cerr;
            t += (dur * 1e6) as i64;
            if cerr && self.r.chance(0.85) {
                err = true;
            }
        }
        t += (self.lognormal(sv.self_ms[i], sv.sigma) * 0.5e6) as i64;
        let dur = (t - start_ns) as f64 / 1e6;
        self.out[idx].duration_ms = (dur * 1000.0).round() / 1000.0;
        self.out[idx].error = err;
        (dur, err)
    }
}

/// Sampled traces from every entry point, about four a minute each.
pub fn render(d: &Dynamics, seed: u64) -> Vec<Span> {
    let mut out = Vec::new();
    let entries: Vec<usize> = (0..d.svcs.len())
        .filter(|s| !d.edges.iter().any(|e| e.to == *s) && d.svcs[*s].kind != ServiceKind::Queue)
        .collect();
    let mut calls = vec![Vec::new(); d.svcs.len()];
    for (e, edge) in d.edges.iter().enumerate() {
        calls[edge.from].push(e);
    }
    for s in entries {
        let mut g = Gen {
            d,
            r: Rng::keyed(seed, &format!("traces/{}", d.svcs[s].name)),
            trace_id: String::new(),
            out: Vec::new(),
            trace_start: 0,
            calls: calls.clone(),
        };
        let per_step = d.step_ms as f64 / 60_000.0 * 4.0;
        for i in 0..d.n {
            if d.svcs[s].rps[i] <= 0.0 {
                continue;
            }
            for _ in 0..g.r.poisson(per_step) {
                if out.len() + g.out.len() >= MAX_SPANS {
                    break;
                }
                g.trace_id = g.r.hex(32);
                g.trace_start = g.out.len();
                let start = d.time(i).0 + (g.r.f64() * d.step_ms as f64 * 1e6) as i64;
                g.server(s, i, None, start);
            }
        }
        out.append(&mut g.out);
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.span_id.cmp(&b.span_id)));
    out
}
