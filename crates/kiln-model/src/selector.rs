//! PromQL label selectors (spec §2.7): `{a="b", c!="d", e=~"x|y", f!~"z.*"}`.
//!
//! ```text
//!  "<profile type>{...}" ─► parser ─► Selector [Matcher…] ─► matches(&Labels)
//!                                                        └─► equal_value() for planning
//! ```
//!
//! Semantics follow Prometheus: all matchers must hold; a missing label reads
//! as the empty string (so `x=""` matches series without `x`); regexes are
//! fully anchored. Regexes are compiled as `^(?s:re)$`: Prometheus 3 lets `.`
//! match a newline, otherwise this is the `^(?:re)$` anchoring of every version.
//! The metric name before the braces (`process_cpu:cpu:…{…}`) is Pyroscope's
//! profile type and becomes a `__profile_type__` matcher.

mod parser;

use crate::error::ModelError;
use crate::labels::{Labels, names};
use regex::Regex;
use std::fmt;
use std::str::FromStr;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored regex)
    RegexMatch,
    /// `!~` (anchored regex)
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as written in a selector.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `name op "value"` condition. The regex of `=~`/`!~` is compiled once
/// at construction, so a bad pattern fails early and matching is cheap.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; fails with `InvalidSelector` when a regex does not compile.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, ModelError> {
        let (name, value) = (name.into(), value.into());
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(compile_anchored(&value).map_err(
                |reason| ModelError::InvalidSelector {
                    selector: format!("{{{}{op}{}}}", quote_name(&name), quote(&value)),
                    reason: format!("invalid regex for label {name:?}: {reason}"),
                },
            )?),
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value as written (the pattern, for regex matchers).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher (pass `""` for a missing label).
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // Unreachable by construction: regex ops always carry a regex.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }
}

/// Matchers are equal when name, operator and value (pattern) are.
impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            quote_name(&self.name),
            self.op,
            quote(&self.value)
        )
    }
}

/// A conjunction of matchers; the empty selector `{}` matches every series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a PromQL metric selector: `{}`, `{a="b", …}` (trailing comma and
    /// any whitespace allowed), `profile:type:…{…}`, or a bare profile type.
    /// Values may be `"…"` or `'…'` with Go escapes, or raw `` `…` ``.
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        parser::parse(input)
            .map(|matchers| Self { matchers })
            .map_err(|reason| ModelError::InvalidSelector {
                selector: input.to_string(),
                reason,
            })
    }

    /// A selector made of the given matchers.
    pub fn new(matchers: Vec<Matcher>) -> Self {
        Self { matchers }
    }

    /// This selector ANDed with one more matcher (e.g. the profile type, §2.7).
    pub fn with(mut self, matcher: Matcher) -> Self {
        self.matchers.push(matcher);
        self
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// True for `{}`.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }

    /// Whether a series' labels satisfy every matcher; a missing label is "".
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or_default()))
    }

    /// The value of the first `name="…"` matcher, for planning (e.g. which
    /// service or profile type a query needs).
    pub fn equal_value(&self, name: &str) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.op == MatchOp::Equal && m.name == name)
            .map(|m| m.value.as_str())
    }

    /// The profile type the selector pins with `__profile_type__="…"`, if any.
    pub fn profile_type(&self) -> Option<&str> {
        self.equal_value(names::PROFILE_TYPE)
    }
}

impl FromStr for Selector {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes `{name op "value", …}`, which [`Selector::parse`] reads back equal.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl FromIterator<Matcher> for Selector {
    fn from_iter<T: IntoIterator<Item = Matcher>>(iter: T) -> Self {
        Self {
            matchers: iter.into_iter().collect(),
        }
    }
}

/// Compiles `re` anchored at both ends, refusing patterns that would escape
/// the wrapping group (e.g. `a)|(b`), which the bare pattern reveals.
fn compile_anchored(re: &str) -> Result<Regex, String> {
    let oneline = |e: regex::Error| {
        e.to_string()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    };
    Regex::new(re).map_err(oneline)?;
    Regex::new(&format!("^(?s:{re})$")).map_err(oneline)
}

/// True for a legacy label name `[a-zA-Z_][a-zA-Z0-9_]*`, written unquoted.
pub(crate) fn is_legacy_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quote_name(name: &str) -> String {
    if is_legacy_name(name) {
        name.to_string()
    } else {
        quote(name)
    }
}

/// Double-quotes `s` with Go-style escapes, so the parser reads back `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
