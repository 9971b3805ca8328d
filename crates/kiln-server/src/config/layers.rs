//! Merging config layers as TOML tables before one typed deserialization.
//!
//! Every layer is turned into a [`toml::Table`] and merged over the previous
//! one, so there is exactly one place (serde) that knows the types. Environment
//! variables and flags arrive as strings; they are coerced to the TOML type of
//! the key's *default* value (string, integer, float, boolean, or a list of
//! strings written comma-separated), which also tells us when a key does not
//! exist. A provenance map remembers where each
//! key was last set, so an error can say "from KILN_INGESTER__FLUSH_INTERVAL".

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::ConfigError;

/// Prefix of every config environment variable.
pub(crate) const ENV_PREFIX: &str = "KILN_";
/// Separator between key segments in environment variable names.
const ENV_SEPARATOR: &str = "__";
/// The table holding per-tenant limit overrides; its keys are tenant IDs.
pub(crate) const OVERRIDES: &str = "overrides";
/// The section whose keys `[overrides.<tenant>]` may set.
pub(crate) const LIMITS: &str = "limits";

/// Where each dotted key was last set (absent = built-in default).
pub(crate) type Provenance = BTreeMap<String, String>;

/// Deep-merges `over` into `base`: tables merge key by key, anything else
/// replaces. Records `origin` for every leaf key written.
pub(crate) fn merge(
    base: &mut Table,
    over: Table,
    prefix: &str,
    origin: &str,
    provenance: &mut Provenance,
) {
    for (key, value) in over {
        let path = join(prefix, &key);
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(over_table)) => {
                merge(base_table, over_table, &path, origin, provenance);
            }
            (_, Value::Table(over_table)) => {
                let mut fresh = Table::new();
                merge(&mut fresh, over_table, &path, origin, provenance);
                base.insert(key, Value::Table(fresh));
            }
            (_, value) => {
                provenance.insert(path, origin.to_string());
                base.insert(key, value);
            }
        }
    }
}

/// Turns process environment variables into `(dotted key, value, origin)`.
///
/// `KILN_<SECTION>__<KEY>` maps to `section.key` (lowercased);
/// `KILN_OVERRIDES__<tenant>__<KEY>` keeps the tenant ID's case.
/// A `KILN_*` variable without `__` is a config key only if it names a
/// top-level key (`KILN_TARGET`); others (say `KILN_LOG`) are left to other
/// uses. A variable with `__` must name a real key, so typos fail loudly.
pub(crate) fn env_pairs(
    vars: impl IntoIterator<Item = (String, String)>,
    defaults: &Table,
) -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<&str> = rest.split(ENV_SEPARATOR).collect();
        if segments.len() == 1 {
            let key = segments[0].to_ascii_lowercase();
            if !matches!(defaults.get(&key), Some(v) if !v.is_table()) {
                continue;
            }
        }
        let dotted = segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let tenant_segment = i == 1 && segments[0].eq_ignore_ascii_case(OVERRIDES);
                if tenant_segment {
                    s.to_string()
                } else {
                    s.to_ascii_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        pairs.push((dotted, value, format!("environment variable {name}")));
    }
    pairs
}

/// Sets one dotted key from a string, typed after the default value.
pub(crate) fn set_string(
    table: &mut Table,
    defaults: &Table,
    dotted: &str,
    raw: &str,
    origin: &str,
    provenance: &mut Provenance,
) -> Result<(), ConfigError> {
    let segments = split_dotted(dotted);
    let unknown = || ConfigError::UnknownKey {
        key: dotted.to_string(),
        origin: origin.to_string(),
    };
    // `overrides.<tenant>.<key>` is typed like `limits.<key>`.
    let type_path: Vec<&str> = match segments.as_slice() {
        [OVERRIDES, _tenant, key] => vec![LIMITS, key],
        [OVERRIDES, ..] => return Err(unknown()),
        other => other.to_vec(),
    };
    let default = lookup(defaults, &type_path).ok_or_else(unknown)?;
    let value = coerce(default, raw).map_err(|expected| ConfigError::InvalidValue {
        key: dotted.to_string(),
        origin: origin.to_string(),
        message: format!("{raw:?} is not {expected}"),
    })?;

    let (leaf, parents) = segments.split_last().ok_or_else(unknown)?;
    let mut current = table;
    for parent in parents {
        let entry = current
            .entry(parent.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry.as_table_mut().ok_or_else(unknown)?;
    }
    current.insert(leaf.to_string(), value);
    provenance.insert(dotted.to_string(), origin.to_string());
    Ok(())
}

/// Splits `a.b.c`; a tenant ID in `overrides.<tenant>.<key>` may itself
/// contain dots, so the middle segment takes whatever is between the first
/// and the last dot.
fn split_dotted(dotted: &str) -> Vec<&str> {
    if let Some(rest) = dotted.strip_prefix("overrides.")
        && let Some((tenant, key)) = rest.rsplit_once('.')
    {
        return vec![OVERRIDES, tenant, key];
    }
    dotted.split('.').collect()
}

fn lookup<'a>(table: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(*first)?;
    if rest.is_empty() {
        return (!value.is_table()).then_some(value);
    }
    lookup(value.as_table()?, rest)
}

/// Parses `raw` as the same TOML type as `default`; the error names the
/// expected type.
fn coerce(default: &Value, raw: &str) -> Result<Value, &'static str> {
    let trimmed = raw.trim();
    match default {
        Value::String(_) => Ok(Value::String(raw.to_string())),
        Value::Integer(_) => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| "an integer"),
        Value::Float(_) => trimmed
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| "a number"),
        Value::Boolean(_) => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err("a boolean (true or false)"),
        },
        // Lists of strings (`querier.peers`) arrive comma-separated.
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_string()))
                .collect(),
        )),
        _ => Err("a scalar value"),
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Finds where `path` was set: the key itself or its nearest recorded
/// ancestor, else any key below it (an unknown-field error names only the
/// table that holds the bad key).
pub(crate) fn origin_of(provenance: &Provenance, path: &str) -> Option<String> {
    let mut candidate = path;
    loop {
        if let Some(origin) = provenance.get(candidate) {
            return Some(origin.clone());
        }
        match candidate.rsplit_once('.') {
            Some((parent, _)) => candidate = parent,
            None => break,
        }
    }
    let below = format!("{path}.");
    provenance
        .iter()
        .find(|(key, _)| key.starts_with(&below))
        .map(|(_, origin)| origin.clone())
}
