//! The profiling functions every SQL session has (`docs/sql.md` documents
//! each with an example).
//!
//! * `flamegraph(stack, value [, max_nodes])`: aggregate to Pyroscope's
//!   FlameGraph JSON ([`flamegraph`]).
//! * `leaf(stack)`, `frame(stack, depth)`, `stack_contains(stack, pattern)`:
//!   stack helpers (`scalar`).
//! * `go_package(function_name)`, `module(function_name [, file])`: name
//!   reduction rules ([`names`]).
//! * `time_bucket(interval, time)`: `date_bin` under the name users of
//!   time-series databases expect.

pub mod flamegraph;
pub mod names;
mod scalar;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Registers every Kiln function on `ctx`.
pub(crate) fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(flamegraph::Flamegraph::new()));
    for f in scalar::functions() {
        ctx.register_udf(f);
    }
    let time_bucket: ScalarUDF = datafusion::functions::datetime::date_bin()
        .as_ref()
        .clone()
        .with_aliases(["time_bucket"]);
    ctx.register_udf(time_bucket);
}
