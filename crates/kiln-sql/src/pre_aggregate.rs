//! The `pre_aggregate` optimizer rule: sum `profile_samples` per (series,
//! stack) inside the scan when the query only sums values over time.
//!
//! ```text
//!  Aggregate(group by exprs of service_name/profile_type/labels/stack;
//!            SUM(value) | flamegraph(stack, value [, n]))
//!    Projection(plain columns)?                                        ── dropped
//!    Filter(time comparisons, service_name = 'x', profile_type = 'y')?   ─┐ removed: the
//!      TableScan(profile_samples)                                      ─┴ scan applies them
//!  ─► Aggregate(same) ◄─ Filter(the rest)? ◄─ TableScan(profile_samples pre-aggregated, filters)
//! ```
//!
//! Summing a block's samples by stack id first and building each stack once
//! is what the query path does for flame graphs; without it a day of one
//! service is a list of function names built per stored sample. Sums (and
//! flame graphs, which add values per stack) of partial sums are the same
//! sums, so the answer does not change; any other aggregate, a group on
//! `time`, or a filter the scan cannot apply exactly that reads more than the
//! columns constant over a (series, stack) leaves the plan as it is (such a
//! filter on those columns, e.g. `profile_type LIKE 'memory:%'`, stays in a
//! Filter above the summed scan).

use crate::tables::{ProfileSamplesTable, is_exact_filter};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::datasource::{TableProvider, provider_as_source, source_as_provider};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, TableScan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::collections::BTreeSet;
use std::sync::Arc;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PreAggregate;

/// Columns a group expression may read: constant over a (series, stack).
const GROUPABLE: [&str; 4] = ["service_name", "profile_type", "labels", "stack"];

fn columns_within(e: &Expr, allowed: &[&str]) -> bool {
    e.column_refs()
        .iter()
        .all(|c: &&Column| allowed.contains(&c.name.as_str()))
}

/// `SUM(value)` or `flamegraph(stack, value [, constant])`, plain (no
/// DISTINCT, FILTER or ORDER BY).
fn sums_values(e: &Expr) -> bool {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = e.clone().unalias() else {
        return false;
    };
    if params.distinct || params.filter.is_some() || !params.order_by.is_empty() {
        return false;
    }
    let is_value = |a: &Expr| matches!(a, Expr::Column(c) if c.name == "value");
    let is_stack = |a: &Expr| matches!(a, Expr::Column(c) if c.name == "stack");
    match (func.name(), params.args.as_slice()) {
        ("sum", [v]) => is_value(v),
        ("flamegraph", [s, v]) => is_stack(s) && is_value(v),
        ("flamegraph", [s, v, n]) => is_stack(s) && is_value(v) && matches!(n, Expr::Literal(..)),
        _ => false,
    }
}

/// The plain `profile_samples` table under `scan`, if that is what it reads.
fn plain_profile_samples(scan: &TableScan) -> Option<Arc<ProfileSamplesTable>> {
    let provider = source_as_provider(&scan.source).ok()?;
    let table = provider
        .downcast_ref::<ProfileSamplesTable>()
        .filter(|t| !t.is_pre_aggregated())?;
    Some(Arc::new(table.pre_aggregated()))
}

impl OptimizerRule for PreAggregate {
    fn name(&self) -> &str {
        "kiln_pre_aggregate_profile_samples"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // A projection of plain columns between them is dropped: the new
        // scan reads exactly what the aggregate needs.
        let input = match agg.input.as_ref() {
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                p.input.as_ref()
            }
            other => other,
        };
        let (filter, scan) = match input {
            LogicalPlan::Filter(f) => match f.input.as_ref() {
                LogicalPlan::TableScan(s) => (Some(&f.predicate), s),
                _ => return Ok(Transformed::no(plan)),
            },
            LogicalPlan::TableScan(s) => (None, s),
            _ => return Ok(Transformed::no(plan)),
        };
        // Conjuncts the scan applies exactly go into the new scan; the rest
        // may stay in a Filter above it only if they read columns that are
        // constant over a (series, stack) — filtering such rows before or
        // after summing them per (series, stack) keeps the same rows.
        let conjuncts: Vec<&Expr> = filter.map(split_conjunction).unwrap_or_default();
        let (exact, residual): (Vec<&Expr>, Vec<&Expr>) =
            conjuncts.into_iter().partition(|c| is_exact_filter(c));
        let applies = scan.fetch.is_none()
            && agg.group_expr.iter().all(|e| columns_within(e, &GROUPABLE))
            && !agg.aggr_expr.is_empty()
            && agg.aggr_expr.iter().all(sums_values)
            && residual
                .iter()
                .all(|c| columns_within(c, &GROUPABLE) && !c.is_volatile())
            && scan
                .filters
                .iter()
                .all(|f| is_exact_filter(f) || residual.contains(&f));
        let Some(table) = applies.then(|| plain_profile_samples(scan)).flatten() else {
            return Ok(Transformed::no(plan));
        };
        // Filters of the new scan: the exact ones, from the scan and the Filter.
        let mut filters: Vec<Expr> = scan
            .filters
            .iter()
            .filter(|f| is_exact_filter(f))
            .cloned()
            .collect();
        for c in exact {
            if !filters.contains(c) {
                filters.push(c.clone());
            }
        }
        // Projection: what the aggregate and the residual filter read
        // (never `time`).
        let schema = table.schema();
        let mut needed = BTreeSet::new();
        for e in agg
            .group_expr
            .iter()
            .chain(&agg.aggr_expr)
            .chain(residual.iter().copied())
        {
            for c in e.column_refs() {
                needed.insert(schema.index_of(&c.name)?);
            }
        }
        let mut input = LogicalPlanBuilder::scan_with_filters(
            scan.table_name.clone(),
            provider_as_source(table),
            Some(needed.into_iter().collect()),
            filters,
        )?;
        if let Some(predicate) = residual.into_iter().cloned().reduce(Expr::and) {
            input = input.filter(predicate)?;
        }
        let input = input.build()?;
        let rewritten = Aggregate::try_new(
            Arc::new(input),
            agg.group_expr.clone(),
            agg.aggr_expr.clone(),
        )?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
    }
}
