//! Label sets: sorted, unique name/value pairs with a stable fingerprint.

use serde::{Deserialize, Serialize};

/// Well-known label names (spec §2.7).
pub mod names {
    /// The profile name, first part of the profile-type ID.
    pub const METRIC_NAME: &str = "__name__";
    /// The full profile-type ID.
    pub const PROFILE_TYPE: &str = "__profile_type__";
    /// Sample type of the series.
    pub const TYPE: &str = "__type__";
    /// Sample unit of the series.
    pub const UNIT: &str = "__unit__";
    /// Period type of the series (empty when absent).
    pub const PERIOD_TYPE: &str = "__period_type__";
    /// Period unit of the series (empty when absent).
    pub const PERIOD_UNIT: &str = "__period_unit__";
    /// Private copy of `service_name`.
    pub const PRIVATE_SERVICE_NAME: &str = "__service_name__";
    /// `"false"` marks a profile as already delta.
    pub const DELTA: &str = "__delta__";
    /// The service; mandatory in storage.
    pub const SERVICE_NAME: &str = "service_name";
    /// Fallback when a client sends no `service_name`.
    pub const SERVICE_NAME_FALLBACK: &str = "unknown_service";
    /// Sample label carrying a tracing span id; kept on samples, never a series label.
    pub const SPAN_ID: &str = "span_id";
    /// Sample label carrying a profile id; kept on samples, never a series label.
    pub const PROFILE_ID: &str = "profile_id";
    /// The agent that produced a legacy `/ingest` profile.
    pub const PYROSCOPE_SPY: &str = "pyroscope_spy";
}

/// One label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name with unique names; the identity of a series.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a set from pairs; a later pair with the same name replaces an earlier one.
    pub fn new(pairs: impl IntoIterator<Item = Label>) -> Self {
        let mut labels: Vec<Label> = Vec::new();
        for label in pairs {
            match labels.iter_mut().find(|l| l.name == label.name) {
                Some(existing) => existing.value = label.value,
                None => labels.push(label),
            }
        }
        labels.sort();
        Self(labels)
    }

    /// A set from labels already sorted by name and unique (what
    /// `sanitize_labels` returns), with room for `extra` more.
    pub(crate) fn from_sorted(labels: &[Label], extra: usize) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        let mut sorted = Vec::with_capacity(labels.len() + extra);
        sorted.extend_from_slice(labels);
        Self(sorted)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// Sets `name` to `value`, keeping the set sorted.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        match self.0.binary_search_by(|l| l.name.cmp(&name)) {
            Ok(i) => self.0[i].value = value.into(),
            Err(i) => self.0.insert(
                i,
                Label {
                    name,
                    value: value.into(),
                },
            ),
        }
    }

    /// [`Self::set`] for a borrowed name, allocated only when it is new
    /// (series labels are mostly well-known constants set on every series).
    pub(crate) fn set_borrowed(&mut self, name: &str, value: impl Into<String>) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => self.0[i].value = value.into(),
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()?;
        Some(self.0.remove(i).value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A stable 64-bit hash of the set (xxh3 over `name\xffvalue\xff…`);
    /// safe to persist because it does not depend on the process or version.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for label in &self.0 {
            hasher.update(label.name.as_bytes());
            hasher.update(&[0xff]);
            hasher.update(label.value.as_bytes());
            hasher.update(&[0xff]);
        }
        hasher.digest()
    }
}

impl FromIterator<Label> for Labels {
    fn from_iter<T: IntoIterator<Item = Label>>(iter: T) -> Self {
        Self::new(iter)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_stable_fingerprint() {
        let a = Labels::new([
            Label::new("b", "2"),
            Label::new("a", "1"),
            Label::new("b", "3"),
        ]);
        assert_eq!(a.as_slice(), &[Label::new("a", "1"), Label::new("b", "3")]);
        let b = Labels::new([Label::new("a", "1"), Label::new("b", "3")]);
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = Labels::new([Label::new("a", "13")]);
        let d = Labels::new([Label::new("a", "1"), Label::new("3", "")]);
        assert_ne!(c.fingerprint(), d.fingerprint());
    }

    #[test]
    fn set_get_remove() {
        let mut l = Labels::default();
        l.set("z", "1");
        l.set("a", "2");
        l.set("z", "3");
        assert_eq!(l.get("z"), Some("3"));
        assert_eq!(l.iter().next().unwrap().name, "a");
        assert_eq!(l.remove("a"), Some("2".into()));
        assert_eq!(l.len(), 1);
    }
}
