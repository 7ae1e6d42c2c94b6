//! The label names inquest reasons in (`service`, `peer_service`) mapped to
//! the ones a real stack uses (`job`, `app`, `app.kubernetes.io/name`, ...):
//! queries are rewritten on the way out, results renamed on the way back.

use std::collections::BTreeMap;

use promql_parser::label::Labels;
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};

use super::telemetry::MetricSeries;

/// canonical name → the stack's name; empty means the names are the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelMap(pub BTreeMap<String, String>);

impl LabelMap {
    pub fn is_identity(&self) -> bool {
        self.0.iter().all(|(a, b)| a == b)
    }

    fn out<'a>(&'a self, name: &'a str) -> &'a str {
        self.0.get(name).map(String::as_str).unwrap_or(name)
    }

    fn labels(&self, l: &mut Labels) {
        for x in &mut l.labels {
            *x = self.out(x).to_string();
        }
    }

    fn modifier(&self, m: &mut Option<LabelModifier>) {
        match m {
            Some(LabelModifier::Include(l) | LabelModifier::Exclude(l)) => self.labels(l),
            None => {}
        }
    }

    fn expr(&self, e: &mut Expr) {
        match e {
            Expr::Aggregate(a) => {
                self.modifier(&mut a.modifier);
                self.expr(&mut a.expr);
                if let Some(p) = &mut a.param {
                    self.expr(p);
                }
            }
            Expr::Unary(u) => self.expr(&mut u.expr),
            Expr::Binary(b) => {
                if let Some(m) = &mut b.modifier {
                    self.modifier(&mut m.matching);
                    if let VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) = &mut m.card {
                        self.labels(l);
                    }
                }
                self.expr(&mut b.lhs);
                self.expr(&mut b.rhs);
            }
            Expr::Paren(p) => self.expr(&mut p.expr),
            Expr::Subquery(s) => self.expr(&mut s.expr),
            Expr::VectorSelector(v) => self.selector(v),
            Expr::MatrixSelector(m) => self.selector(&mut m.vs),
            Expr::Call(c) => {
                for a in &mut c.args.args {
                    self.expr(a);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }

    fn selector(&self, v: &mut promql_parser::parser::VectorSelector) {
        for m in v
            .matchers
            .matchers
            .iter_mut()
            .chain(v.matchers.or_matchers.iter_mut().flatten())
        {
            m.name = self.out(&m.name).to_string();
        }
    }

    /// The query in the stack's label names.
    pub fn promql(&self, q: &str) -> Result<String, String> {
        if self.is_identity() {
            return Ok(q.to_string());
        }
        let mut e = parser::parse(q)?;
        self.expr(&mut e);
        Ok(e.to_string())
    }

    /// A LogQL stream selector's label names, rewritten in place.
    pub fn logql(&self, q: &str) -> String {
        if self.is_identity() {
            return q.to_string();
        }
        let Some(end) = q.find('}') else { return q.to_string() };
        let (sel, rest) = q.split_at(end);
        let mut out = sel.to_string();
        for (from, to) in &self.0 {
            let re = regex::Regex::new(&format!(r"(^|[{{,\s]){}(\s*(=~|!~|!=|=))", regex::escape(from)));
            if let Ok(re) = re {
                out = re
                    .replace_all(&out, |c: &regex::Captures| format!("{}{}{}", &c[1], to, &c[2]))
                    .to_string();
            }
        }
        out + rest
    }

    /// Renames the stack's labels back to inquest's in a label set.
    pub fn back(&self, labels: &mut BTreeMap<String, String>) {
        for (canonical, theirs) in &self.0 {
            if canonical != theirs
                && let Some(v) = labels.remove(theirs)
            {
                labels.entry(canonical.clone()).or_insert(v);
            }
        }
    }

    /// Renames the stack's label names back to inquest's in a sorted list of names.
    pub fn back_names(&self, names: Vec<String>) -> Vec<String> {
        let mut out: Vec<String> = names
            .into_iter()
            .map(|n| {
                self.0
                    .iter()
                    .find(|(c, theirs)| **theirs == n && c != theirs)
                    .map(|(c, _)| c.clone())
                    .unwrap_or(n)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn back_series(&self, series: &mut [MetricSeries]) {
        if !self.is_identity() {
            for s in series {
                self.back(&mut s.labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> LabelMap {
        LabelMap(
            [
                ("service".to_string(), "job".to_string()),
                ("peer_service".into(), "server_address".into()),
            ]
            .into(),
        )
    }

    #[test]
    fn promql_label_names_are_rewritten_everywhere_they_appear() {
        let q = map()
            .promql(r#"sum by (service, peer_service) (rate(http_client_request_duration_seconds_count{service="checkout",peer_service=~"orders.*"}[1m])) / on (service) group_left sum by (service) (up)"#)
            .unwrap();
        assert!(q.contains("by (job, server_address)"), "{q}");
        assert!(
            q.contains(r#"job="checkout""#) && q.contains(r#"server_address=~"orders.*""#),
            "{q}"
        );
        assert!(q.contains("on (job)"), "{q}");
        assert!(!q.contains("service"), "{q}");
        assert!(promql_parser::parser::parse(&q).is_ok());
    }

    #[test]
    fn logql_selectors_and_results_map_both_ways() {
        let m = LabelMap([("service".to_string(), "app".to_string())].into());
        assert_eq!(
            m.logql(r#"{service="checkout", level=~"error"} |= "service=x""#),
            r#"{app="checkout", level=~"error"} |= "service=x""#
        );
        let mut l: BTreeMap<String, String> = [("app".to_string(), "checkout".to_string())].into();
        m.back(&mut l);
        assert_eq!(l.get("service").map(String::as_str), Some("checkout"));
        assert!(!l.contains_key("app"));
    }
}
