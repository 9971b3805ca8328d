//! What SQL predicates tell a scan before it reads: the time range (blocks
//! and row groups/pages outside it are skipped, as on the query path) and
//! equalities on `service_name`/`profile_type` (series pruned through the
//! block's postings).
//!
//! Pushdown is always *inexact*: DataFusion still applies every predicate
//! above the scan, so a predicate we do not understand only costs speed.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

/// Inclusive nanosecond bounds implied by the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl Default for TimeRange {
    fn default() -> Self {
        Self {
            start_ns: i64::MIN,
            end_ns: i64::MAX,
        }
    }
}

/// Nanoseconds of a timestamp literal, whatever its unit.
fn literal_ns(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(Some(n), _) => Some(*n),
        ScalarValue::TimestampMicrosecond(Some(n), _) => n.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(n), _) => n.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(n), _) => n.checked_mul(1_000_000_000),
        _ => None,
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Column(Column { name: n, .. }) if n == name)
}

/// The literal of `e`, looking through casts DataFusion adds for coercion.
fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal(&c.expr),
        Expr::TryCast(c) => literal(&c.expr),
        _ => None,
    }
}

/// Whether `filter` narrows `column` in a way [`time_range`] understands.
pub(crate) fn is_time_filter(filter: &Expr, column: &str) -> bool {
    let mut r = TimeRange::default();
    narrow(filter, column, &mut r)
}

/// The time range every row passing `filters` lies in.
pub(crate) fn time_range(filters: &[Expr], column: &str) -> TimeRange {
    let mut r = TimeRange::default();
    for f in filters {
        narrow(f, column, &mut r);
    }
    r
}

fn narrow(filter: &Expr, column: &str, r: &mut TimeRange) -> bool {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                let a = narrow(left, column, r);
                let b = narrow(right, column, r);
                return a || b;
            }
            let (op, lit) = if is_column(left, column) {
                (*op, literal(right))
            } else if is_column(right, column) {
                match op.swap() {
                    Some(op) => (op, literal(left)),
                    None => return false,
                }
            } else {
                return false;
            };
            let Some(ns) = lit.and_then(literal_ns) else {
                return false;
            };
            match op {
                Operator::Gt => r.start_ns = r.start_ns.max(ns.saturating_add(1)),
                Operator::GtEq => r.start_ns = r.start_ns.max(ns),
                Operator::Lt => r.end_ns = r.end_ns.min(ns.saturating_sub(1)),
                Operator::LtEq => r.end_ns = r.end_ns.min(ns),
                Operator::Eq => {
                    r.start_ns = r.start_ns.max(ns);
                    r.end_ns = r.end_ns.min(ns);
                }
                _ => return false,
            }
            true
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(expr, column) => {
            match (
                literal(low).and_then(literal_ns),
                literal(high).and_then(literal_ns),
            ) {
                (Some(lo), Some(hi)) => {
                    r.start_ns = r.start_ns.max(lo);
                    r.end_ns = r.end_ns.min(hi);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// `column = 'value'` equalities among the filters (top-level conjuncts).
pub(crate) fn string_equalities(filters: &[Expr], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in filters {
        collect_equalities(f, column, &mut out);
    }
    out
}

fn collect_equalities(filter: &Expr, column: &str, out: &mut Vec<String>) {
    if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter {
        match op {
            Operator::And => {
                collect_equalities(left, column, out);
                collect_equalities(right, column, out);
            }
            Operator::Eq => {
                let lit = if is_column(left, column) {
                    literal(right)
                } else if is_column(right, column) {
                    literal(left)
                } else {
                    None
                };
                if let Some(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)),
                ) = lit
                {
                    out.push(s.clone());
                }
            }
            _ => {}
        }
    }
}

/// Whether `filter` is an equality [`string_equalities`] understands.
pub(crate) fn is_equality_filter(filter: &Expr, column: &str) -> bool {
    !string_equalities(std::slice::from_ref(filter), column).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(ns: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(ns),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn bounds_from_comparisons_and_between() {
        let f = vec![col("time").gt_eq(ts(10)), col("time").lt(ts(20))];
        assert_eq!(
            time_range(&f, "time"),
            TimeRange {
                start_ns: 10,
                end_ns: 19
            }
        );
        let f = vec![col("time").between(ts(5), ts(7)).and(col("x").eq(lit(1)))];
        assert_eq!(
            time_range(&f, "time"),
            TimeRange {
                start_ns: 5,
                end_ns: 7
            }
        );
        // Reversed operands and other columns.
        let f = vec![ts(30).gt(col("time")), col("other").gt(ts(1))];
        assert_eq!(time_range(&f, "time").end_ns, 29);
        assert_eq!(time_range(&f, "time").start_ns, i64::MIN);
        // OR cannot narrow.
        let f = vec![col("time").gt(ts(1)).or(col("time").lt(ts(0)))];
        assert_eq!(time_range(&f, "time"), TimeRange::default());
    }

    #[test]
    fn equalities() {
        let f = vec![
            col("service_name")
                .eq(lit("a"))
                .and(col("profile_type").eq(lit("p"))),
        ];
        assert_eq!(string_equalities(&f, "service_name"), vec!["a"]);
        assert_eq!(string_equalities(&f, "profile_type"), vec!["p"]);
        assert!(string_equalities(&f, "labels").is_empty());
    }
}
