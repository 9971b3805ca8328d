//! The scalar functions: stack helpers and name reduction.

use super::names;
use crate::tables::types::STACK_TYPE;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Array, ListArray, StringArray, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Leaf,
    Frame,
    StackContains,
    GoPackage,
    Module,
}

/// One of the scalar functions; `kind` says which.
#[derive(Debug, PartialEq, Eq, Hash)]
struct KilnFunction {
    kind: Kind,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    [
        Kind::Leaf,
        Kind::Frame,
        Kind::StackContains,
        Kind::GoPackage,
        Kind::Module,
    ]
    .into_iter()
    .map(|kind| {
        let signature = match kind {
            Kind::Leaf | Kind::GoPackage => Signature::any(1, Volatility::Immutable),
            Kind::Frame | Kind::StackContains => Signature::any(2, Volatility::Immutable),
            Kind::Module => Signature::variadic_any(Volatility::Immutable),
        };
        ScalarUDF::new_from_impl(KilnFunction { kind, signature })
    })
    .collect()
}

/// The argument as a `List<Utf8>` stack (casting `List<Utf8View>` etc.).
fn stack_arg(a: &ArrayRef, name: &str) -> Result<ListArray> {
    if !matches!(
        a.data_type(),
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_)
    ) {
        return plan_err!(
            "{name}: the stack argument must be a list of function names, got {}",
            a.data_type()
        );
    }
    Ok(cast(a, &STACK_TYPE)?.as_list::<i32>().clone())
}

/// The argument as `Utf8`.
fn string_arg(a: &ArrayRef, name: &str, what: &str) -> Result<StringArray> {
    if !matches!(
        a.data_type(),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    ) {
        return plan_err!("{name}: {what} must be a string, got {}", a.data_type());
    }
    Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
}

impl KilnFunction {
    fn check_types(&self, types: &[DataType]) -> Result<()> {
        let is_list = |t: &DataType| {
            matches!(
                t,
                DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_)
            )
        };
        let name = self.name();
        match self.kind {
            Kind::Leaf | Kind::Frame | Kind::StackContains if !is_list(&types[0]) => plan_err!(
                "{name}: the first argument must be a stack (list of function names), got {}",
                types[0]
            ),
            Kind::Module if types.is_empty() || types.len() > 2 => {
                plan_err!("module takes (function_name) or (function_name, file)")
            }
            _ => Ok(()),
        }
    }
}

impl ScalarUDFImpl for KilnFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Leaf => "leaf",
            Kind::Frame => "frame",
            Kind::StackContains => "stack_contains",
            Kind::GoPackage => "go_package",
            Kind::Module => "module",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.check_types(arg_types)?;
        Ok(match self.kind {
            Kind::StackContains => DataType::Boolean,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let name = self.name();
        let out: ArrayRef = match self.kind {
            Kind::Leaf => {
                let stacks = stack_arg(&arrays[0], name)?;
                element(&stacks, |len| len.checked_sub(1))
            }
            Kind::Frame => {
                let stacks = stack_arg(&arrays[0], name)?;
                let depths = cast(&arrays[1], &DataType::Int64)?;
                let depths = depths
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("frame: depth cast".into()))?;
                let mut b = StringBuilder::new();
                for i in 0..stacks.len() {
                    if stacks.is_null(i) || depths.is_null(i) {
                        b.append_null();
                        continue;
                    }
                    let names = stacks.value(i);
                    let names = names.as_string::<i32>();
                    let len = names.len() as i64;
                    let d = depths.value(i);
                    let at = if d < 0 { len + d } else { d };
                    if (0..len).contains(&at) && !names.is_null(at as usize) {
                        b.append_value(names.value(at as usize));
                    } else {
                        b.append_null();
                    }
                }
                Arc::new(b.finish())
            }
            Kind::StackContains => {
                let stacks = stack_arg(&arrays[0], name)?;
                let patterns = string_arg(&arrays[1], name, "the pattern")?;
                // Recompiled only when the pattern changes (once for a literal).
                let mut compiled: Option<(String, Regex)> = None;
                let mut b = BooleanBuilder::with_capacity(stacks.len());
                for i in 0..stacks.len() {
                    if stacks.is_null(i) || patterns.is_null(i) {
                        b.append_null();
                        continue;
                    }
                    let p = patterns.value(i);
                    if compiled.as_ref().is_none_or(|(q, _)| q != p) {
                        let re = Regex::new(p).map_err(|e| {
                            DataFusionError::Plan(format!(
                                "stack_contains: invalid regular expression {p:?}: {e}"
                            ))
                        })?;
                        compiled = Some((p.to_string(), re));
                    }
                    let re = &compiled.as_ref().expect("compiled above").1;
                    let names = stacks.value(i);
                    let names = names.as_string::<i32>();
                    b.append_value(names.iter().flatten().any(|n| re.is_match(n)));
                }
                Arc::new(b.finish())
            }
            Kind::GoPackage => {
                let names = string_arg(&arrays[0], name, "the function name")?;
                Arc::new(
                    names
                        .iter()
                        .map(|n| n.and_then(names::go_package))
                        .collect::<StringArray>(),
                )
            }
            Kind::Module => {
                let names = string_arg(&arrays[0], name, "the function name")?;
                let files = match arrays.get(1) {
                    Some(a) => Some(string_arg(a, name, "the file")?),
                    None => None,
                };
                Arc::new(
                    (0..names.len())
                        .map(|i| {
                            if names.is_null(i) {
                                return None;
                            }
                            let file = files
                                .as_ref()
                                .and_then(|f| (!f.is_null(i)).then(|| f.value(i)));
                            names::module(names.value(i), file)
                        })
                        .collect::<StringArray>(),
                )
            }
        };
        if out.len() != args.number_rows && args.number_rows != 1 {
            return exec_err!(
                "{name}: produced {} rows for {}",
                out.len(),
                args.number_rows
            );
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// The element of each stack at `pick(len)` (null when `None`).
fn element(stacks: &ListArray, pick: impl Fn(usize) -> Option<usize>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for i in 0..stacks.len() {
        if stacks.is_null(i) {
            b.append_null();
            continue;
        }
        let names = stacks.value(i);
        let names = names.as_string::<i32>();
        match pick(names.len()) {
            Some(at) if !names.is_null(at) => b.append_value(names.value(at)),
            _ => b.append_null(),
        }
    }
    Arc::new(b.finish())
}
