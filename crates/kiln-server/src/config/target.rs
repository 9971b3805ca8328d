//! `target`: which roles this process runs (design §1).
//!
//! Written as one string so that it reads the same in `kiln.toml`,
//! `KILN_TARGET` and `--target`: `all` or a comma-separated role list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One role of design §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Ingester,
    Metastore,
    Compactor,
    QueryFrontend,
    Querier,
}

impl Role {
    /// Every role, in the order `all` expands to.
    pub const ALL: [Role; 5] = [
        Role::Ingester,
        Role::Metastore,
        Role::Compactor,
        Role::QueryFrontend,
        Role::Querier,
    ];

    /// The name used in config and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingester => "ingester",
            Role::Metastore => "metastore",
            Role::Compactor => "compactor",
            Role::QueryFrontend => "query-frontend",
            Role::Querier => "querier",
        }
    }
}

/// The set of roles a process runs. Defaults to every role (`all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    roles: Vec<Role>,
}

impl Target {
    /// Every role in one process: the embedded default.
    pub fn all() -> Self {
        Self {
            roles: Role::ALL.to_vec(),
        }
    }

    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The roles, sorted and without duplicates.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }
}

impl Default for Target {
    fn default() -> Self {
        Self::all()
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Vec::new();
        for part in s.split(',').map(str::trim) {
            if part == "all" {
                roles.extend(Role::ALL);
                continue;
            }
            let role = Role::ALL
                .into_iter()
                .find(|r| r.as_str() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown role {part:?} in target {s:?}; expected \"all\" or a comma-separated list of {}",
                        Role::ALL.map(Role::as_str).join(", ")
                    )
                })?;
            roles.push(role);
        }
        roles.sort();
        roles.dedup();
        Ok(Self { roles })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roles == Role::ALL {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
