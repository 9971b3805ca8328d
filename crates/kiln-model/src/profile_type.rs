//! Profile-type IDs: `<name>:<sample_type>:<sample_unit>:<period_type>:<period_unit>`.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};

/// A parsed profile-type ID (spec §2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfileType {
    pub name: String,
    pub sample_type: String,
    pub sample_unit: String,
    pub period_type: String,
    pub period_unit: String,
}

impl ProfileType {
    /// The ID as stored in `__profile_type__`.
    pub fn id(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit
        )
    }

    /// Parses an ID; a sixth `:delta` part is accepted and dropped, as Pyroscope does.
    pub fn parse(id: &str) -> Result<Self, ModelError> {
        let parts: Vec<&str> = id.split(':').collect();
        let valid = match parts.len() {
            5 => true,
            6 => parts[5] == "delta",
            _ => false,
        };
        if !valid || parts[0].is_empty() {
            return Err(ModelError::InvalidProfileType(id.to_string()));
        }
        Ok(Self {
            name: parts[0].into(),
            sample_type: parts[1].into(),
            sample_unit: parts[2].into(),
            period_type: parts[3].into(),
            period_unit: parts[4].into(),
        })
    }
}

impl std::fmt::Display for ProfileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_empty_period() {
        for id in [
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "memory:inuse_space:bytes::",
        ] {
            assert_eq!(ProfileType::parse(id).unwrap().id(), id);
        }
        let delta = ProfileType::parse("memory:alloc_space:bytes:space:bytes:delta").unwrap();
        assert_eq!(delta.id(), "memory:alloc_space:bytes:space:bytes");
        assert!(ProfileType::parse("cpu").is_err());
        assert!(ProfileType::parse(":a:b:c:d").is_err());
        assert!(ProfileType::parse("a:b:c:d:e:f").is_err());
    }
}
