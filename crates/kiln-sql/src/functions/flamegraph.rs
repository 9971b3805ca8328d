//! `flamegraph(stack, value [, max_nodes])`: merges stacks into one call
//! tree and returns it as the Pyroscope `FlameGraph` JSON (the protojson of
//! `querier.v1.FlameGraph`, as Grafana receives it from
//! `SelectMergeStacktraces`).
//!
//! The accumulator is the query path's: a name-keyed
//! [`kiln_model::tree::Tree`] whose serialised bytes are the partial state,
//! merged with `Tree::merge`, and encoded by `kiln_model::flamegraph` with
//! the same `max_nodes` pruning (default 8192, Pyroscope's default; 0 = no
//! limit).

use crate::tables::types::STACK_TYPE;
use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;
use kiln_model::tree::Tree;
use std::sync::Arc;

/// Pyroscope's `querier.max-flamegraph-nodes-default`.
pub const DEFAULT_MAX_NODES: i64 = 8192;

/// The `flamegraph` aggregate UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Flamegraph {
    signature: Signature,
}

impl Flamegraph {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for Flamegraph {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for Flamegraph {
    fn name(&self) -> &str {
        "flamegraph"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!("flamegraph takes (stack, value) or (stack, value, max_nodes)");
        }
        if !matches!(
            arg_types[0],
            DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_)
        ) {
            return plan_err!(
                "flamegraph: the stack must be a list of function names, got {}",
                arg_types[0]
            );
        }
        if !arg_types[1].is_integer() {
            return plan_err!(
                "flamegraph: the value must be an integer, got {}",
                arg_types[1]
            );
        }
        Ok(DataType::Utf8)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "tree"),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let max_nodes = match args.exprs.get(2) {
            None => DEFAULT_MAX_NODES,
            Some(e) => match e.downcast_ref::<Literal>().map(Literal::value) {
                Some(v) if v.data_type().is_integer() => match v.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(Some(n)) if n >= 0 => n,
                    _ => return plan_err!("flamegraph: max_nodes must be a non-negative integer"),
                },
                _ => return plan_err!("flamegraph: max_nodes must be an integer literal"),
            },
        };
        Ok(Box::new(FlamegraphAccumulator {
            tree: Tree::new(),
            max_nodes,
        }))
    }
}

/// Inserts stacks into a [`Tree`]; see the module docs.
#[derive(Debug)]
struct FlamegraphAccumulator {
    tree: Tree,
    max_nodes: i64,
}

impl Accumulator for FlamegraphAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let stacks = cast(&values[0], &STACK_TYPE)?;
        let stacks = stacks.as_list::<i32>();
        let vals = cast(&values[1], &DataType::Int64)?;
        let vals = vals
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("flamegraph: value cast".into()))?;
        for i in 0..stacks.len() {
            if stacks.is_null(i) || vals.is_null(i) {
                continue;
            }
            let names = stacks.value(i);
            let names = names.as_string::<i32>();
            self.tree
                .insert_stack(names.iter().map(|n| n.unwrap_or("")), vals.value(i));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let graph = kiln_model::flamegraph::flamegraph(&self.tree, self.max_nodes);
        let json = serde_json::to_string(&graph)
            .map_err(|e| DataFusionError::Internal(format!("flamegraph JSON: {e}")))?;
        Ok(ScalarValue::Utf8(Some(json)))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.tree.memory_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.tree.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let trees = states[0]
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| DataFusionError::Internal("flamegraph: bad state".into()))?;
        for bytes in trees.iter().flatten() {
            let partial =
                Tree::from_bytes(bytes).map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.tree.merge(&partial);
        }
        Ok(())
    }
}
