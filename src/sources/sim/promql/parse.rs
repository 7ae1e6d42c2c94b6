//! The parse adapter: queries are parsed with `promql-parser`, and anything
//! outside the subset this evaluator implements is rejected here, before
//! any evaluation, with [`PromqlError::Unsupported`] naming the construct.

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr, MatrixSelector, VectorMatchCardinality, VectorSelector, token};

use super::binary::BinOp;
use super::select::CompiledSelector;
use super::{PromqlError, Result};

pub(super) fn parse_query(query: &str) -> Result<Expr> {
    promql_parser::parser::parse(query).map_err(PromqlError::Parse)
}

pub(super) fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// A selector for the metadata endpoints: a plain `metric{...}` selector.
pub(super) fn parse_series_selector(m: &str) -> Result<CompiledSelector> {
    match parse_query(m)? {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => Ok(CompiledSelector::new(&vs)),
        _ => Err(PromqlError::Parse(format!(
            "expected a series selector such as up{{job=\"api\"}}, got {m:?}"
        ))),
    }
}

const SUPPORTED_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "abs",
    "clamp_min",
    "clamp_max",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "count_over_time",
    "scalar",
    "vector",
    "time",
    "histogram_quantile",
];

pub(super) fn is_range_function(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "irate"
            | "increase"
            | "delta"
            | "avg_over_time"
            | "max_over_time"
            | "min_over_time"
            | "sum_over_time"
            | "count_over_time"
    )
}

/// Rejects, before any evaluation, every construct outside the subset.
pub(super) fn check_supported(e: &Expr) -> Result<()> {
    let unsupported = |what: String| Err(PromqlError::Unsupported(what));
    match e {
        Expr::Aggregate(a) => {
            if !matches!(
                a.op.id(),
                token::T_SUM
                    | token::T_AVG
                    | token::T_MIN
                    | token::T_MAX
                    | token::T_COUNT
                    | token::T_TOPK
                    | token::T_BOTTOMK
            ) {
                return unsupported(format!("aggregation `{}`", a.op));
            }
            if let Some(p) = &a.param {
                check_supported(p)?;
            }
            check_supported(&a.expr)
        }
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Binary(b) => {
            if BinOp::from_token(b.op.id()).is_none() {
                return unsupported(format!("operator `{}`", b.op));
            }
            if let Some(m) = &b.modifier {
                match m.card {
                    VectorMatchCardinality::ManyToOne(_) => {
                        return unsupported("group_left (many-to-one matching)".into());
                    }
                    VectorMatchCardinality::OneToMany(_) => {
                        return unsupported("group_right (one-to-many matching)".into());
                    }
                    _ => {}
                }
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return unsupported("fill modifier".into());
                }
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Subquery(_) => unsupported("subquery".into()),
        Expr::NumberLiteral(_) => Ok(()),
        Expr::StringLiteral(_) => unsupported("string literal".into()),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Call(c) => {
            if !SUPPORTED_FUNCTIONS.contains(&c.func.name) {
                return unsupported(format!("function `{}`", c.func.name));
            }
            for a in &c.args.args {
                check_supported(a)?;
            }
            if is_range_function(c.func.name) && matrix_arg(c).is_none() {
                // The parser only lets a subquery take a selector's place.
                return unsupported("subquery".into());
            }
            Ok(())
        }
        Expr::Extension(_) => unsupported("extension expression".into()),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<()> {
    if vs.at.is_some() {
        return Err(PromqlError::Unsupported("@ modifier".into()));
    }
    Ok(())
}

pub(super) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

pub(super) fn matrix_arg(c: &Call) -> Option<&MatrixSelector> {
    match c.args.args.first().map(|a| unwrap_parens(a)) {
        Some(Expr::MatrixSelector(ms)) => Some(ms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

    #[test]
    fn unsupported_constructs_are_named() {
        let s = x_set();
        assert!(
            unsupported(&s, "label_replace(x, \"a\", \"$1\", \"svc\", \"(.*)\")").contains("function `label_replace`")
        );
        assert!(unsupported(&s, "sort(x)").contains("function `sort`"));
        assert!(unsupported(&s, "rate(x[5m:1m])").contains("subquery"));
        assert!(unsupported(&s, "max_over_time((x * 2)[5m:])").contains("subquery"));
        assert!(unsupported(&s, "x @ 100").contains("@ modifier"));
        assert!(unsupported(&s, "quantile(0.5, x)").contains("aggregation `quantile`"));
        assert!(unsupported(&s, "stddev(x)").contains("aggregation `stddev`"));
        assert!(unsupported(&s, "count_values(\"v\", x)").contains("count_values"));
        assert!(unsupported(&s, "x atan2 x").contains("atan2"));
        assert!(unsupported(&s, "\"hello\"").contains("string"));
        let e = query_instant(&s, "sort(x)", 0).unwrap_err();
        assert_eq!(e.to_string(), "unsupported in this PromQL subset: function `sort`");
    }

    #[test]
    fn syntax_errors_are_parse_errors() {
        let s = x_set();
        match query_instant(&s, "sum(x", 0) {
            Err(PromqlError::Parse(msg)) => assert!(msg.contains("unclosed left parenthesis"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(query_instant(&s, "x{", 0), Err(PromqlError::Parse(_))));
        assert!(matches!(query_instant(&s, "1 > 2", 0), Err(PromqlError::Parse(_))));
        assert!(matches!(
            query_range(&s, "rate(x)", 0, 60, 1),
            Err(PromqlError::Parse(_))
        ));
    }
}
