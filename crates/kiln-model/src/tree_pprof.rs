//! A call tree exported as a pprof `google.v1.Profile` (`PROFILE_FORMAT_PPROF`
//! and `SelectMergeProfile`), and the inverse for checks.
//!
//! ```text
//!  Tree ─► for_each_stack (name order) ─► one Sample per node with self ≠ 0
//!       ─► one Function + one Location per distinct name (id = first-seen order)
//!       ─► Profile { sample_type: [type:unit], period_type, string_table, … }
//! ```
//!
//! A tree keeps only function names, so locations carry no address, mapping,
//! file or line: each location is one line pointing at its function. That
//! is what flame graphs show and what `go tool pprof` needs to render
//! `top`, `tree` and flame graphs; it is not enough for PGO or source views.

use crate::error::ModelError;
use crate::profile_type::ProfileType;
use crate::tree::Tree;
use kiln_proto::google::v1::{Function, Line, Location, Profile, Sample, ValueType};
use std::collections::HashMap;

/// Builds a pprof of `tree` for `profile_type`: one sample type
/// (`sample_type:sample_unit`), the period type when the ID has one,
/// `time_nanos`/`duration_nanos` as given. Stacks are listed leaf first, as
/// pprof requires; samples come in name order (depth first).
pub fn tree_to_pprof(
    tree: &Tree,
    profile_type: &ProfileType,
    time_nanos: i64,
    duration_nanos: i64,
) -> Profile {
    let mut out = Builder::default();
    out.string(""); // pprof: string_table[0] is ""
    let sample_type = out.value_type(&profile_type.sample_type, &profile_type.sample_unit);
    let period_type = (!profile_type.period_type.is_empty()
        || !profile_type.period_unit.is_empty())
    .then(|| out.value_type(&profile_type.period_type, &profile_type.period_unit));
    let mut samples = Vec::new();
    tree.for_each_stack(|stack, value| {
        let location_id = stack.iter().rev().map(|name| out.function(name)).collect();
        samples.push(Sample {
            location_id,
            value: vec![value],
            label: vec![],
        });
    });
    let Builder {
        strings,
        functions,
        locations,
        ..
    } = out;
    Profile {
        sample_type: vec![sample_type],
        sample: samples,
        location: locations,
        function: functions,
        string_table: strings,
        time_nanos,
        duration_nanos,
        period_type,
        ..Profile::default()
    }
}

/// Rebuilds the tree a pprof describes, summing the first sample value of
/// every stack by function name (the first line of each location; inlined
/// lines are expanded leaf first). Used to check exports end to end.
pub fn pprof_to_tree(profile: &Profile) -> Result<Tree, ModelError> {
    let string = |i: i64| {
        profile
            .string_table
            .get(i as usize)
            .map(String::as_str)
            .ok_or(ModelError::StringIndexOutOfRange {
                index: i,
                len: profile.string_table.len(),
            })
    };
    let functions: HashMap<u64, &str> = profile
        .function
        .iter()
        .map(|f| Ok((f.id, string(f.name)?)))
        .collect::<Result<_, ModelError>>()?;
    let locations: HashMap<u64, &Location> = profile.location.iter().map(|l| (l.id, l)).collect();
    let mut tree = Tree::new();
    for sample in &profile.sample {
        let mut stack: Vec<&str> = Vec::new();
        for id in sample.location_id.iter().rev() {
            let location = locations.get(id).ok_or(ModelError::UnknownLocation(*id))?;
            for line in location.line.iter().rev() {
                let name = functions
                    .get(&line.function_id)
                    .ok_or(ModelError::UnknownFunction(line.function_id))?;
                stack.push(name);
            }
        }
        let value = sample.value.first().copied().unwrap_or(0);
        tree.insert_stack(stack, value);
    }
    Ok(tree)
}

/// Interns strings and functions while the samples are written.
#[derive(Default)]
struct Builder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<Function>,
    locations: Vec<Location>,
    function_ids: HashMap<String, u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.string_ids.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), i);
        i
    }

    fn value_type(&mut self, r#type: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(r#type),
            unit: self.string(unit),
        }
    }

    /// The id of the function (and of its one location) named `name`.
    fn function(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.function_ids.get(name) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name_index = self.string(name);
        self.functions.push(Function {
            id,
            name: name_index,
            system_name: name_index,
            filename: 0,
            start_line: 0,
        });
        self.locations.push(Location {
            id,
            mapping_id: 0,
            address: 0,
            line: vec![Line {
                function_id: id,
                line: 0,
            }],
            is_folded: false,
        });
        self.function_ids.insert(name.to_string(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn sample_tree() -> Tree {
        let mut tree = Tree::new();
        tree.insert_stack(["main", "work", "hash"], 30);
        tree.insert_stack(["main", "work"], 10);
        tree.insert_stack(["main", "idle"], 5);
        tree.insert_stack(["gc"], 7);
        tree
    }

    #[test]
    fn export_round_trips_through_protobuf() {
        let tree = sample_tree();
        let pt = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap();
        let profile = tree_to_pprof(&tree, &pt, 1_000, 2_000);
        let decoded = Profile::decode(profile.encode_to_vec().as_slice()).unwrap();
        assert_eq!(pprof_to_tree(&decoded).unwrap(), tree);

        let s = |i: i64| decoded.string_table[i as usize].as_str();
        assert_eq!(s(0), "");
        assert_eq!(decoded.sample_type.len(), 1);
        assert_eq!(
            (
                s(decoded.sample_type[0].r#type),
                s(decoded.sample_type[0].unit)
            ),
            ("cpu", "nanoseconds")
        );
        let period = decoded.period_type.unwrap();
        assert_eq!((s(period.r#type), s(period.unit)), ("cpu", "nanoseconds"));
        assert_eq!((decoded.time_nanos, decoded.duration_nanos), (1_000, 2_000));
        // One function and one location per distinct name; ids are dense.
        assert_eq!(decoded.function.len(), 5);
        assert_eq!(decoded.location.len(), 5);
        // Samples in name order, leaf first: gc, main;idle, main;work, main;work;hash.
        let stacks: Vec<(Vec<&str>, i64)> = decoded
            .sample
            .iter()
            .map(|smp| {
                let names = smp
                    .location_id
                    .iter()
                    .map(|id| s(decoded.function[*id as usize - 1].name))
                    .collect();
                (names, smp.value[0])
            })
            .collect();
        assert_eq!(
            stacks,
            vec![
                (vec!["gc"], 7),
                (vec!["idle", "main"], 5),
                (vec!["work", "main"], 10),
                (vec!["hash", "work", "main"], 30),
            ]
        );
    }

    #[test]
    fn empty_period_and_empty_tree() {
        let pt = ProfileType::parse("memory:inuse_space:bytes::").unwrap();
        let profile = tree_to_pprof(&Tree::new(), &pt, 0, 0);
        assert!(profile.period_type.is_none());
        assert!(profile.sample.is_empty());
        assert_eq!(profile.string_table, vec!["", "inuse_space", "bytes"]);
        assert!(pprof_to_tree(&profile).unwrap().is_empty());
    }

    #[test]
    fn inverse_rejects_dangling_ids() {
        let mut profile = tree_to_pprof(&sample_tree(), &ProfileType::default(), 0, 0);
        profile.sample[0].location_id.push(99);
        assert_eq!(
            pprof_to_tree(&profile).unwrap_err(),
            ModelError::UnknownLocation(99)
        );
    }
}
