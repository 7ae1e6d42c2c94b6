//! A query in inquest's names rewritten, through its syntax tree, into the
//! stack's (src/sources/families.rs): metric and label names per family, the
//! family's matchers added, label values mapped (server-side, by
//! `label_replace`, so that aggregations group the mapped values), a peer
//! derived from `server_address` where `peer_service` is absent, and a unit
//! in milliseconds brought to seconds (`histogram_quantile(…) / 1000` over
//! millisecond buckets, `le` bounds scaled). Results come back in inquest's names.

use std::collections::BTreeMap;

use promql_parser::label::{Labels, MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality, VectorSelector};

use super::families::{Families, Family, Peers};
use super::labels::LabelMap;
use super::telemetry::MetricSeries;

/// Labels the rewrite adds to keep series apart; removed from every result.
const TEMP: &str = "inquest_";
const PEER_TEMP: &str = "inquest_peer";

/// How the configured Prometheus names things: families over the plain label map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mapping {
    pub families: Families,
    pub labels: LabelMap,
}

/// What turns a result back into inquest's names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Back {
    /// The stack's label name → inquest's; the first for a name wins.
    renames: Vec<(String, String)>,
    /// The stack's metric name → inquest's.
    names: Vec<(String, String)>,
    /// `le` bounds in the stack's unit per second.
    le_scale: Option<f64>,
    /// Where a label set has no peer but an address: the stack's peer, host and port labels, and the peers.
    peer: Option<(String, String, String, Peers)>,
}

/// Which labels survive the nearest enclosing aggregation (inquest's names).
#[derive(Clone)]
enum Keep {
    All,
    By(Vec<String>),
    Without(Vec<String>),
}

impl Keep {
    fn keeps(&self, l: &str) -> bool {
        match self {
            Keep::All => true,
            Keep::By(v) => v.iter().any(|x| x == l),
            Keep::Without(v) => !v.iter().any(|x| x == l),
        }
    }
}

/// What a selector needs around it once it is an instant vector.
#[derive(Default)]
struct Wrap {
    family: usize,
    values: Vec<usize>,
    peer: bool,
    peer_only: Option<String>,
    divide: Option<f64>,
}

#[derive(Default)]
struct Info {
    families: Vec<usize>,
    /// Whether a series selector is under this node (it is a vector, not a number).
    vector: bool,
    /// Millisecond (or other) buckets under this node, not yet turned into a quantile.
    bucket_scale: Option<f64>,
    /// Wraps a matrix selector leaves to the function that reads it.
    pending: Vec<Wrap>,
}

impl Info {
    fn join(&mut self, o: Info) {
        for f in o.families {
            if !self.families.contains(&f) {
                self.families.push(f);
            }
        }
        self.bucket_scale = self.bucket_scale.or(o.bucket_scale);
        self.vector |= o.vector;
        self.pending.extend(o.pending);
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn reparse(q: &str) -> Result<Expr, String> {
    parser::parse(q).map_err(|e| format!("rewriting the query: {e} in {q}"))
}

/// One matcher, built by the parser so that its regex is compiled as Prometheus would.
fn matcher(name: &str, op: &str, value: &str) -> Result<Matcher, String> {
    // A metric name beside `__name__` would name the metric twice; a non-empty matcher beside any other.
    let sel = if name == "__name__" {
        format!("{{{name}{op}{}, inquest_x=\"1\"}}", quote(value))
    } else {
        format!("x{{{name}{op}{}}}", quote(value))
    };
    match reparse(&sel)? {
        Expr::VectorSelector(v) => v
            .matchers
            .matchers
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("no matcher {name} built")),
        _ => Err("not a selector".into()),
    }
}

fn format_le(x: f64) -> String {
    if x.is_infinite() {
        return "+Inf".into();
    }
    // A bound scaled by 1000 is written as the exporter wrote it: 0.3 × 1000 is 300, not 300.00000000000006.
    let x = format!("{x:.9e}").parse::<f64>().unwrap_or(x);
    let s = format!("{x}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

impl Mapping {
    /// Whether names pass as they are (only values may be mapped): a query the
    /// parser here does not know is then sent as written, for Prometheus to judge.
    fn names_as_they_are(&self) -> bool {
        self.labels.is_identity()
            && self.families.peers.label.is_none()
            && self.families.list.iter().all(|f| {
                f.names.iter().all(|(a, b)| a == b)
                    && f.labels.iter().all(|(a, b)| a == b)
                    && f.matchers.is_empty()
                    && f.scale == 1.0
            })
    }

    /// inquest's label `l` in the stack's name, for a family (or none).
    pub fn out_label(&self, family: Option<usize>, l: &str) -> String {
        family
            .and_then(|i| self.families.list[i].labels.get(l))
            .or_else(|| self.labels.0.get(l))
            .cloned()
            .unwrap_or_else(|| l.to_string())
    }

    /// A `match[]` series selector in the stack's names (names and matchers
    /// only: the metadata endpoints take nothing but a selector).
    pub fn selector_only(&self, q: &str) -> Result<(String, Back), String> {
        let mut e = parser::parse(q)?;
        let Expr::VectorSelector(v) = &mut e else {
            return self.promql(q);
        };
        let mut info = Info::default();
        let (family, _) = self.selector(v, &Keep::By(Vec::new()), &mut info, true)?;
        let families: Vec<usize> = family.into_iter().collect();
        Ok((e.to_string(), self.back_for(&families, info.bucket_scale)))
    }

    /// The query in the stack's names, and how to read its answer back.
    pub fn promql(&self, q: &str) -> Result<(String, Back), String> {
        let mut e = match parser::parse(q) {
            Ok(e) => e,
            Err(_) if self.names_as_they_are() => return Ok((q.to_string(), Back::default())),
            Err(e) => return Err(e),
        };
        let before = e.to_string();
        let info = self.expr(&mut e, &Keep::All)?;
        let back = self.back_for(&info.families, info.bucket_scale);
        let after = e.to_string();
        // Nothing to change: the query goes as it was written, not as this parser prints it.
        Ok((if after == before { q.to_string() } else { after }, back))
    }

    /// How results of queries touching `families` come back.
    fn back_for(&self, families: &[usize], le_scale: Option<f64>) -> Back {
        let mut renames = Vec::new();
        for &i in families {
            let f = &self.families.list[i];
            renames.extend(
                f.labels
                    .iter()
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| (b.clone(), a.clone())),
            );
        }
        renames.extend(
            self.labels
                .0
                .iter()
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (b.clone(), a.clone())),
        );
        let names = families
            .iter()
            .flat_map(|&i| self.families.list[i].names.iter())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (b.clone(), a.clone()))
            .collect();
        let peers = &self.families.peers;
        let client = families
            .iter()
            .copied()
            .find(|&i| self.families.list[i].key == "http_client");
        let peer = match (client, &peers.label) {
            (Some(i), Some(host)) => Some((
                self.out_label(Some(i), "peer_service"),
                host.clone(),
                peers.port.clone().unwrap_or_default(),
                peers.clone(),
            )),
            _ => None,
        };
        Back {
            renames,
            names,
            le_scale,
            peer,
        }
    }

    /// Every family's renames: for label names listed without a query.
    pub fn back_all(&self) -> Back {
        let all: Vec<usize> = (0..self.families.list.len()).collect();
        self.back_for(&all, None)
    }

    fn modifier(&self, family: Option<usize>, m: &mut Option<LabelModifier>) {
        if let Some(LabelModifier::Include(l) | LabelModifier::Exclude(l)) = m {
            self.rename(family, l);
        }
    }

    fn rename(&self, family: Option<usize>, l: &mut Labels) {
        for x in &mut l.labels {
            *x = self.out_label(family, x);
        }
    }

    fn expr(&self, e: &mut Expr, keep: &Keep) -> Result<Info, String> {
        let mut info = Info::default();
        match e {
            Expr::Aggregate(a) => {
                let inner = match &a.modifier {
                    Some(LabelModifier::Include(l)) => Keep::By(l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => Keep::Without(l.labels.clone()),
                    None => Keep::By(Vec::new()),
                };
                info.join(self.expr(&mut a.expr, &inner)?);
                if let Some(p) = &mut a.param {
                    info.join(self.expr(p, &Keep::All)?);
                }
                self.modifier(info.families.first().copied(), &mut a.modifier);
            }
            Expr::Unary(u) => info.join(self.expr(&mut u.expr, keep)?),
            Expr::Paren(p) => info.join(self.expr(&mut p.expr, keep)?),
            Expr::Subquery(s) => {
                info.join(self.expr(&mut s.expr, keep)?);
                info.pending.clear();
            }
            Expr::Binary(b) => {
                let lhs = self.expr(&mut b.lhs, keep)?;
                let rhs = self.expr(&mut b.rhs, keep)?;
                if lhs.vector && rhs.vector {
                    let on = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                        Some(LabelModifier::Include(l)) => Some(l.labels.clone()),
                        _ => None,
                    };
                    let (lf, rf) = (lhs.families.first().copied(), rhs.families.first().copied());
                    if let Some(q) = self.align(&b.rhs, lf, rf, on)? {
                        *b.rhs = q;
                    }
                }
                info.join(lhs);
                info.join(rhs);
                let family = info.families.first().copied();
                if let Some(m) = &mut b.modifier {
                    self.modifier(family, &mut m.matching);
                    if let VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) = &mut m.card {
                        self.rename(family, l);
                    }
                }
            }
            Expr::VectorSelector(v) => {
                info.vector = true;
                let (i, wrap) = self.selector(v, keep, &mut info, false)?;
                if let Some(w) = wrap {
                    *e = self.wrap(e, &w)?;
                }
                info.families.extend(i);
            }
            Expr::MatrixSelector(m) => {
                info.vector = true;
                let (i, wrap) = self.selector(&mut m.vs, keep, &mut info, false)?;
                info.families.extend(i);
                info.pending.extend(wrap);
            }
            Expr::Call(c) => {
                for a in &mut c.args.args {
                    info.join(self.expr(a, keep)?);
                }
                let quantile = c.func.name == "histogram_quantile";
                let pending = std::mem::take(&mut info.pending);
                for w in &pending {
                    *e = self.wrap(e, w)?;
                }
                if quantile && let Some(s) = info.bucket_scale.take() {
                    *e = reparse(&format!("({e}) / {}", format_le(s)))?;
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
        Ok(info)
    }

    /// The right side of a binary operation renamed to the left side's label
    /// names where the two families name a label apart (`job` against
    /// `service`), so that the sides still match; `None` when they agree.
    fn align(
        &self,
        rhs: &Expr,
        lf: Option<usize>,
        rf: Option<usize>,
        on: Option<Vec<String>>,
    ) -> Result<Option<Expr>, String> {
        if lf == rf {
            return Ok(None);
        }
        let labels: Vec<String> = on.unwrap_or_else(|| {
            let mut all: Vec<String> = self.labels.0.keys().cloned().collect();
            for f in [lf, rf].into_iter().flatten() {
                all.extend(self.families.list[f].labels.keys().cloned());
            }
            all.sort();
            all.dedup();
            all
        });
        let mut q = rhs.to_string();
        let mut changed = false;
        for l in labels {
            let (ours, theirs) = (self.out_label(lf, &l), self.out_label(rf, &l));
            if ours != theirs {
                q = format!(
                    "label_replace(label_replace({q}, {}, \"$1\", {}, \"(.*)\"), {}, \"\", \"\", \"\")",
                    quote(&ours),
                    quote(&theirs),
                    quote(&theirs)
                );
                changed = true;
            }
        }
        if changed { reparse(&q).map(Some) } else { Ok(None) }
    }

    /// Rewrites one selector in place; its family and what must wrap it.
    fn selector(
        &self,
        v: &mut VectorSelector,
        keep: &Keep,
        info: &mut Info,
        plain: bool,
    ) -> Result<(Option<usize>, Option<Wrap>), String> {
        let fams = &self.families;
        let canon = v.name.clone().or_else(|| {
            v.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
                .map(|m| m.value.clone())
        });
        let family = canon.as_deref().and_then(|c| fams.of(c));
        let f: Option<&Family> = family.map(|i| &fams.list[i]);
        let stack = match (f, &canon) {
            (Some(f), Some(c)) => f.stack_name(c).map(str::to_string),
            _ => None,
        };
        if let Some(s) = &stack
            && v.name.is_some()
        {
            v.name = Some(s.clone());
        }
        let is_client = f.is_some_and(|f| f.key == "http_client");
        let peers = fams.peers.label.is_some() && is_client;
        let mut wrap = Wrap {
            family: family.unwrap_or(0),
            ..Default::default()
        };
        let mut out = Vec::new();
        for m in std::mem::take(&mut v.matchers.matchers) {
            if m.name == "__name__" {
                out.push(self.name_matcher(m, stack.as_deref())?);
                continue;
            }
            let name = self.out_label(family, &m.name);
            if peers && !plain && m.name == "peer_service" && m.op == MatchOp::Equal && !m.value.is_empty() {
                wrap.peer_only = Some(m.value.clone());
                continue;
            }
            if let Some(vi) = f.and_then(|f| f.values.iter().find(|x| x.label == m.name)) {
                out.push(value_matcher(&name, &m, vi)?);
                continue;
            }
            if m.name == "le"
                && let Some(f) = f.filter(|f| f.scale != 1.0)
                && let Ok(x) = m.value.parse::<f64>()
            {
                out.push(matcher(&name, &m.op.to_string(), &format_le(x * f.scale))?);
                continue;
            }
            out.push(Matcher { name, ..m });
        }
        if let Some(f) = f {
            for (k, val) in &f.matchers {
                if !out.iter().any(|m| m.name == *k) {
                    out.push(matcher(k, "=", val)?);
                }
            }
        }
        v.matchers.matchers = out;
        for alt in v.matchers.or_matchers.iter_mut().flatten() {
            alt.name = self.out_label(family, &alt.name);
        }
        let Some(f) = f else { return Ok((None, None)) };
        let canon = canon.unwrap_or_default();
        if f.scaled(&canon) {
            if canon.ends_with("_bucket") {
                info.bucket_scale = Some(f.scale);
            } else {
                wrap.divide = Some(f.scale);
            }
        }
        wrap.values = (0..f.values.len())
            .filter(|&i| keep.keeps(&f.values[i].label))
            .collect();
        wrap.peer = peers && (keep.keeps("peer_service") || wrap.peer_only.is_some());
        let needed = !wrap.values.is_empty() || wrap.peer || wrap.divide.is_some();
        Ok((family, needed.then_some(wrap)))
    }

    /// `__name__` matchers: a plain name or an alternation of plain names, mapped.
    fn name_matcher(&self, m: Matcher, stack: Option<&str>) -> Result<Matcher, String> {
        if let Some(s) = stack
            && m.op == MatchOp::Equal
        {
            return Ok(Matcher {
                value: s.to_string(),
                ..m
            });
        }
        let plain = |v: &str| {
            v.split('|')
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        };
        if matches!(m.op, MatchOp::Re(_) | MatchOp::NotRe(_)) && plain(&m.value) {
            let mapped: Vec<String> = m
                .value
                .split('|')
                .map(|n| {
                    self.families
                        .of(n)
                        .and_then(|i| self.families.list[i].stack_name(n))
                        .unwrap_or(n)
                        .to_string()
                })
                .collect();
            return matcher("__name__", &m.op.to_string(), &mapped.join("|"));
        }
        Ok(m)
    }

    /// `e` wrapped in what its family needs: values mapped, the peer derived, the unit scaled.
    fn wrap(&self, e: &Expr, w: &Wrap) -> Result<Expr, String> {
        let f = &self.families.list[w.family];
        let mut s = e.to_string();
        let lr = |s: &str, dst: &str, repl: &str, src: &str, re: &str| {
            format!(
                "label_replace({s}, {}, {}, {}, {})",
                quote(dst),
                quote(repl),
                quote(src),
                quote(re)
            )
        };
        for &i in &w.values {
            let v = &f.values[i];
            let l = self.out_label(Some(w.family), &v.label);
            // The value as it was, so that series whose values map alike stay apart until aggregated.
            s = lr(&s, &format!("{TEMP}{l}"), "$1", &l, "(.+)");
            if let Some(empty) = &v.empty {
                s = lr(&s, &l, "", &l, empty);
            }
            for (class, re) in &v.classes {
                s = lr(&s, &l, class, &l, re);
            }
        }
        if w.peer {
            let p = self.out_label(Some(w.family), "peer_service");
            let peers = &self.families.peers;
            let mut join = vec![quote(&p)];
            join.extend(peers.label.iter().chain(peers.port.iter()).map(|l| quote(l)));
            s = format!("label_join({s}, {}, \":\", {})", quote(PEER_TEMP), join.join(", "));
            for (re, repl) in peers.rules() {
                s = lr(&s, &p, &repl, PEER_TEMP, &re);
            }
            if let Some(only) = &w.peer_only {
                s = format!("({s}) and on ({p}) {}", lr("vector(1)", &p, only, "", ""));
            }
        }
        if let Some(d) = w.divide {
            s = format!("({s}) / {}", format_le(d));
        }
        reparse(&s)
    }
}

/// A matcher on a label whose values the family maps: `""` and inquest's
/// classes become the regexes of the stack's values that mean them.
fn value_matcher(name: &str, m: &Matcher, v: &super::families::Values) -> Result<Matcher, String> {
    let class = if m.value.is_empty() {
        v.empty.clone().map(|e| format!("|{e}"))
    } else {
        v.classes
            .iter()
            .find(|(c, _)| *c == m.value)
            .map(|(_, re)| format!("{re}|{}", regex::escape(&m.value)))
    };
    match (class, &m.op) {
        (Some(re), MatchOp::Equal) => matcher(name, "=~", &re),
        (Some(re), MatchOp::NotEqual) => matcher(name, "!~", &re),
        _ => Ok(Matcher {
            name: name.to_string(),
            ..m.clone()
        }),
    }
}

impl Back {
    /// A label set in inquest's names: stack labels renamed, the rewrite's
    /// own labels dropped, `le` back in seconds, the metric name inquest's.
    pub fn labels(&self, labels: &mut BTreeMap<String, String>) {
        if let Some((p, host, port, peers)) = &self.peer
            && labels.get(p).is_none_or(String::is_empty)
            && let Some(h) = labels.get(host)
            && let Some(name) = peers.name("", h, labels.get(port).map(String::as_str).unwrap_or(""))
        {
            labels.insert(p.clone(), name);
        }
        if self.renames.is_empty()
            && self.names.is_empty()
            && self.le_scale.is_none()
            && !labels.keys().any(|k| k.starts_with(TEMP))
        {
            return;
        }
        let mut out = BTreeMap::new();
        let mut renamed = Vec::new();
        for (k, v) in std::mem::take(labels) {
            if k.starts_with(TEMP) {
                continue;
            }
            if k == "__name__" {
                let v = self
                    .names
                    .iter()
                    .find(|(s, _)| *s == v)
                    .map(|(_, c)| c.clone())
                    .unwrap_or(v);
                out.insert(k, v);
            } else if k == "le"
                && let Some(s) = self.le_scale
                && let Ok(x) = v.parse::<f64>()
            {
                out.insert(k, format_le(x / s));
            } else if let Some((_, c)) = self.renames.iter().find(|(s, _)| *s == k) {
                renamed.push((c.clone(), v));
            } else {
                out.insert(k, v);
            }
        }
        for (k, v) in renamed {
            out.entry(k).or_insert(v);
        }
        *labels = out;
    }

    pub fn series(&self, series: &mut [MetricSeries]) {
        for s in series {
            self.labels(&mut s.labels);
        }
    }

    /// Label names in inquest's names, sorted, without the rewrite's own.
    pub fn names(&self, names: Vec<String>) -> Vec<String> {
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| !n.starts_with(TEMP))
            .map(|n| {
                self.renames
                    .iter()
                    .find(|(s, _)| *s == n)
                    .map(|(_, c)| c.clone())
                    .unwrap_or(n)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::families::{FamiliesTable, Profile};
    use crate::sources::families::{HTTP_CLIENT, HTTP_SERVER};

    fn mapping(p: Profile, peers: &[(&str, &str)]) -> Mapping {
        let peers = peers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Mapping {
            families: Families::new(p, &FamiliesTable::default(), &peers, "configured").unwrap(),
            labels: LabelMap::default(),
        }
    }

    fn rw(m: &Mapping, q: &str) -> (String, Back) {
        let (out, back) = m.promql(q).unwrap();
        assert!(parser::parse(&out).is_ok(), "{out}");
        (out, back)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    /// The reasoner's queries (src/reason/builtin/metrics.rs), as it issues them.
    const ERRORS: &str = r#"sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5..|401|403"}[1m]))"#;
    const LATENCY: &str =
        "histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket[1m])))";
    const CALL_FAILURES: &str = r#"sum by (service, peer_service, error_type) (rate(http_client_request_duration_seconds_count{error_type!=""}[1m]))"#;
    const CALL_LATENCY: &str = r#"histogram_quantile(0.99, sum by (service, peer_service, le) (rate(http_client_request_duration_seconds_bucket{error_type=""}[1m])))"#;
    const CALLS: &str = "sum by (service, peer_service) (rate(http_client_request_duration_seconds_count[1m]))";
    const THROTTLED: &str = "sum by (service) (rate(container_cpu_cfs_throttled_periods_total[2m])) / sum by (service) (rate(container_cpu_cfs_periods_total[2m]))";

    #[test]
    fn classic_reads_http_requests_total_by_job_and_leaves_cadvisor_alone() {
        let m = mapping(Profile::Classic, &[]);
        let (q, back) = rw(&m, ERRORS);
        assert_eq!(
            q,
            r#"sum by (job) (rate(http_requests_total{code=~"5..|401|403"}[1m]))"#
        );
        let mut l = labels(&[("job", "checkout")]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "checkout")]));
        let (q, _) = rw(&m, LATENCY);
        assert_eq!(
            q,
            "histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[1m])))"
        );
        // cAdvisor's metrics keep their own labels: `job` there is the kubelet's.
        assert_eq!(rw(&m, THROTTLED).0, THROTTLED);
        let (q, _) = rw(
            &m,
            r#"count by (service) (http_server_request_duration_seconds_count{service="checkout"})"#,
        );
        assert_eq!(q, r#"count by (job) (http_requests_total{job="checkout"})"#);
    }

    #[test]
    fn istio_reads_each_view_through_its_reporter_and_in_seconds() {
        let m = mapping(Profile::Istio, &[]);
        let (q, back) = rw(&m, LATENCY);
        assert_eq!(
            q,
            r#"(histogram_quantile(0.99, sum by (destination_workload, le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])))) / 1000"#
        );
        assert_eq!(back.le_scale, None, "the quantile is already in seconds");
        let (q, _) = rw(&m, CALL_LATENCY);
        assert!(
            q.contains("sum by (source_workload, destination_workload, le)")
                && q.contains(r#"response_flags=~"|-""#)
                && q.contains(r#"reporter="source""#)
                && q.ends_with("/ 1000"),
            "{q}"
        );
        let (q, back) = rw(&m, CALL_FAILURES);
        assert!(q.contains(r#"response_flags!~"|-""#), "{q}");
        assert!(
            q.contains(r#"rate(istio_requests_total{reporter="source",response_flags!~"|-"}[1m]), "inquest_response_flags", "$1", "response_flags", "(.+)")"#),
            "{q}"
        );
        assert!(
            q.contains(r#""response_flags", "timeout", "response_flags", "(.*,)?UT(,.*)?""#),
            "{q}"
        );
        let mut l = labels(&[
            ("source_workload", "frontend"),
            ("destination_workload", "checkout"),
            ("response_flags", "timeout"),
        ]);
        back.labels(&mut l);
        assert_eq!(
            l,
            labels(&[
                ("service", "frontend"),
                ("peer_service", "checkout"),
                ("error_type", "timeout")
            ])
        );
        // A raw bucket selector (as capture reads it): bounds back in seconds, names inquest's.
        let (q, back) = rw(
            &m,
            r#"http_server_request_duration_seconds_bucket{service="checkout",le="0.25"}"#,
        );
        assert_eq!(
            q,
            r#"istio_request_duration_milliseconds_bucket{destination_workload="checkout",le="250",reporter="destination"}"#
        );
        let mut l = labels(&[
            ("__name__", "istio_request_duration_milliseconds_bucket"),
            ("destination_workload", "checkout"),
            ("le", "250"),
            ("reporter", "destination"),
        ]);
        back.labels(&mut l);
        assert_eq!(l["__name__"], "http_server_request_duration_seconds_bucket");
        assert_eq!(l["le"], "0.25");
        assert_eq!(l["service"], "checkout");
        let (q, _) = rw(&m, "rate(http_server_request_duration_seconds_sum[1m])");
        assert_eq!(
            q,
            r#"(rate(istio_request_duration_milliseconds_sum{reporter="destination"}[1m])) / 1000"#
        );
    }

    #[test]
    fn scaled_bounds_are_written_as_an_exporter_writes_them() {
        for (x, want) in [
            (0.3 * 1000.0, "300"),
            (0.1 * 3.0, "0.3"),
            (0.075 * 1000.0, "75"),
            (250.0 / 1000.0, "0.25"),
        ] {
            assert_eq!(format_le(x), want);
        }
        assert_eq!(format_le(f64::INFINITY), "+Inf");
    }

    #[test]
    fn nginx_reads_the_ingress_as_the_caller_of_each_backend() {
        let m = mapping(Profile::Nginx, &[]);
        let (q, back) = rw(&m, CALLS);
        assert_eq!(
            q,
            "sum by (ingress, service) (rate(nginx_ingress_controller_requests[1m]))"
        );
        let mut l = labels(&[("ingress", "shop"), ("service", "checkout")]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "shop"), ("peer_service", "checkout")]));
        let (q, back) = rw(&m, ERRORS);
        assert_eq!(
            q,
            r#"sum by (service) (rate(nginx_ingress_controller_requests{status=~"5..|401|403"}[1m]))"#
        );
        let mut l = labels(&[("service", "checkout")]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "checkout")]));
        let (q, _) = rw(&m, LATENCY);
        assert!(
            q.contains("nginx_ingress_controller_request_duration_seconds_bucket") && !q.contains("/ 1000"),
            "{q}"
        );
    }

    #[test]
    fn otel_exception_names_become_classes_and_status_codes_are_not_failures() {
        let m = mapping(Profile::Otel, &[]);
        assert_eq!(rw(&m, CALLS).0, CALLS, "nothing to map where error_type is not read");
        assert_eq!(rw(&m, ERRORS).0, ERRORS);
        let (q, _) = rw(&m, CALL_FAILURES);
        assert!(q.contains(r#"error_type!~"|[0-9]{3}""#), "{q}");
        // Every regex the query carries, applied as Prometheus does (fully anchored).
        let v = &m.families.list[1].values[0];
        let class = |raw: &str| v.class_of(raw);
        for (raw, want) in [
            ("ConnectionRefusedError", "connection_refused"),
            ("ConnectionResetError", "connection_refused"),
            ("java.net.ConnectException", "connection_refused"),
            ("TimeoutError", "timeout"),
            ("requests.exceptions.ReadTimeout", "timeout"),
            ("DeadlineExceeded", "timeout"),
            ("ssl.SSLCertVerificationError", "tls_error"),
            ("SSLError", "tls_error"),
            ("CertificateError", "tls_error"),
            ("socket.gaierror", "dns_error"),
            ("NameResolutionError", "dns_error"),
            ("java.net.UnknownHostException", "dns_error"),
            ("_OTHER", "other"),
            ("500", ""),
            ("timeout", "timeout"),
            ("connection_refused", "connection_refused"),
            ("KeyError", "KeyError"),
        ] {
            assert_eq!(class(raw), want, "{raw}");
        }
    }

    #[test]
    fn a_peer_named_by_address_is_read_as_the_service_it_is() {
        let m = mapping(Profile::Otel, &[("10.0.3.7:5432", "orders-db")]);
        let q = r#"histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{peer_service="orders-db"}[1m])))"#;
        let (out, _) = rw(&m, q);
        assert!(
            out.contains(r#"and on (peer_service) label_replace(vector(1), "peer_service", "orders-db", "", "")"#),
            "{out}"
        );
        assert!(!out.contains(r#"{peer_service="orders-db"}"#), "{out}");
        // The derivation, replayed on the joined `peer_service:server_address:server_port` values.
        let (out, back) = rw(&m, CALLS);
        let e = parser::parse(&out).unwrap().to_string();
        let re = regex::Regex::new(r#""peer_service", "([^"]*)", "inquest_peer", "((?:[^"\\]|\\.)*)""#).unwrap();
        let steps: Vec<(String, String)> = re
            .captures_iter(&e)
            .map(|c| (c[1].to_string(), c[2].replace("\\\\", "\\")))
            .collect();
        assert_eq!(steps.len(), 3, "{e}");
        let peer = |joined: &str| {
            let mut p = String::new();
            for (repl, pat) in &steps {
                let r = regex::Regex::new(&format!("^(?:{pat})$")).unwrap();
                if let Some(c) = r.captures(joined) {
                    let mut out = String::new();
                    c.expand(repl, &mut out);
                    p = out;
                }
            }
            p
        };
        assert_eq!(peer(":10.0.3.7:5432"), "orders-db");
        assert_eq!(peer(":payments.shop.svc.cluster.local:8080"), "payments");
        assert_eq!(peer(":catalog:"), "catalog");
        assert_eq!(peer("checkout::"), "", "a peer_service the stack gives is kept");
        let mut l = labels(&[
            ("service", "checkout"),
            ("peer_service", "orders-db"),
            ("inquest_peer", ":10.0.3.7:5432"),
        ]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "checkout"), ("peer_service", "orders-db")]));

        // A series selector (the metadata endpoints) stays a selector; its label sets get the peer here.
        let q = r#"http_client_request_duration_seconds_count{peer_service="orders-db"}"#;
        let (sel, _) = m.selector_only(q).unwrap();
        assert_eq!(sel, q);
        let (sel, back) = m.selector_only("http_client_request_duration_seconds_count").unwrap();
        assert_eq!(sel, "http_client_request_duration_seconds_count");
        let mut l = labels(&[
            ("service", "checkout"),
            ("server_address", "10.0.3.7"),
            ("server_port", "5432"),
        ]);
        back.labels(&mut l);
        assert_eq!(l["peer_service"], "orders-db");
        let mut l = labels(&[
            ("service", "catalog"),
            ("server_address", "inventory.lab.svc.cluster.local"),
        ]);
        back.labels(&mut l);
        assert_eq!(l["peer_service"], "inventory");
    }

    #[test]
    fn every_query_the_reasoner_issues_is_rewritten_for_every_profile() {
        let http = [
            ERRORS,
            LATENCY,
            CALL_FAILURES,
            CALL_LATENCY,
            CALLS,
            "sum by (service, peer_service) (rate(http_client_request_duration_seconds_count[10m]))",
            r#"sum by (service, peer_service) (rate(http_client_request_duration_seconds_count{http_response_status_code=~"5..|401|403"}[1m]))"#,
            "sum by (service) (rate(http_server_request_duration_seconds_count[1m]))",
            r#"sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code="401"}[1m]))"#,
            "count by (service) (http_server_request_duration_seconds_count)",
            r#"histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{service="checkout"}[1m])))"#,
            r#"histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{service="checkout"}[1m])))"#,
            r#"histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{peer_service="orders-db"}[1m])))"#,
            r#"(sum(rate(http_server_request_duration_seconds_count{service="checkout",http_response_status_code=~"5.."}[1m])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{service="checkout"}[1m]))"#,
            r#"(sum(rate(http_client_request_duration_seconds_count{peer_service="orders-db",error_type!=""}[1m])) or vector(0)) / sum(rate(http_client_request_duration_seconds_count{peer_service="orders-db"}[1m]))"#,
        ];
        let other = [
            THROTTLED,
            "max by (service) (container_memory_working_set_bytes / container_spec_memory_limit_bytes)",
            "sum by (service) (increase(kube_pod_container_status_restarts_total[5m]))",
            "sum by (service) (kube_deployment_status_replicas_available) / sum by (service) (kube_deployment_spec_replicas)",
            "max by (service) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes)",
            "max by (service) (pg_stat_activity_count) / max by (service) (pg_settings_max_connections)",
            "count by (service) (container_memory_working_set_bytes) or count by (service) (redis_keyspace_hits_total) or count by (service) (pg_settings_max_connections) or count by (service) (kafka_consumergroup_lag)",
            r#"sum(increase(kube_pod_container_status_restarts_total{service="checkout"}[5m]))"#,
        ];
        for (p, peers) in [
            (Profile::Otel, &[][..]),
            (Profile::Otel, &[("10.0.3.7:5432", "orders-db")][..]),
            (Profile::Classic, &[][..]),
            (Profile::Istio, &[][..]),
            (Profile::Nginx, &[][..]),
        ] {
            let m = mapping(p, peers);
            for q in http {
                let (out, _) = rw(&m, q);
                let server_renamed = matches!(p, Profile::Classic | Profile::Istio | Profile::Nginx);
                let client_renamed = matches!(p, Profile::Istio | Profile::Nginx);
                assert!(!server_renamed || !out.contains(HTTP_SERVER), "{p:?}: {out}");
                assert!(!client_renamed || !out.contains(HTTP_CLIENT), "{p:?}: {out}");
                assert!(!client_renamed || !out.contains("peer_service"), "{p:?}: {out}");
            }
            for q in other {
                assert_eq!(rw(&m, q).0, parser::parse(q).unwrap().to_string(), "{p:?}");
            }
        }
    }

    #[test]
    fn the_sides_of_a_binary_operation_still_match_when_their_families_name_a_label_apart() {
        let m = mapping(Profile::Classic, &[]);
        let q = "sum by (service) (rate(http_server_request_duration_seconds_count[5m])) / on (service) group_left sum by (service) (container_memory_working_set_bytes)";
        let (out, back) = rw(&m, q);
        assert_eq!(
            out,
            r#"sum by (job) (rate(http_requests_total[5m])) / on (job) group_left () label_replace(label_replace(sum by (service) (container_memory_working_set_bytes), "job", "$1", "service", "(.*)"), "service", "", "", "")"#
        );
        let mut l = labels(&[("job", "checkout")]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "checkout")]));
        // Within one family, or against a number, nothing is added.
        assert!(!rw(&m, ERRORS).0.contains("label_replace"));
        assert!(
            !rw(
                &m,
                "sum by (service) (rate(http_server_request_duration_seconds_count[5m])) / 2"
            )
            .0
            .contains("label_replace")
        );
    }

    #[test]
    fn a_query_the_parser_does_not_know_goes_as_written_unless_names_must_change() {
        let q = "some_function_from_the_future(up)";
        assert_eq!(rw_raw(&mapping(Profile::Otel, &[]), q), Ok(q.to_string()));
        assert!(rw_raw(&mapping(Profile::Classic, &[]), q).is_err());
    }

    fn rw_raw(m: &Mapping, q: &str) -> Result<String, String> {
        m.promql(q).map(|x| x.0)
    }

    #[test]
    fn plain_label_renames_still_apply_outside_families() {
        let m = Mapping {
            families: Families::default(),
            labels: LabelMap([("service".to_string(), "app".to_string())].into()),
        };
        let (q, back) = rw(&m, THROTTLED);
        assert_eq!(q, THROTTLED.replace("(service)", "(app)"));
        let mut l = labels(&[("app", "checkout")]);
        back.labels(&mut l);
        assert_eq!(l, labels(&[("service", "checkout")]));
    }
}
