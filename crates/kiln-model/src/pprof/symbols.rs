//! Symbol resolution: string table, id lookups, locations → deduplicated frames.

use crate::error::ModelError;
use crate::limits::NormalizeLimits;
use crate::profile::Frame;
use foldhash::HashMap;
use kiln_proto::google::v1::{Location, Profile};

/// Bounds-checked access to a pprof string table.
#[derive(Clone, Copy)]
pub(super) struct Strings<'a>(&'a [String]);

impl<'a> Strings<'a> {
    pub(super) fn new(table: &'a [String]) -> Self {
        Self(table)
    }

    /// The string at `index`. Index 0 is the empty string even when a
    /// (non-conforming) profile sends an empty table.
    pub(super) fn get(&self, index: i64) -> Result<&'a str, ModelError> {
        if index == 0 && self.0.is_empty() {
            return Ok("");
        }
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(String::as_str)
            .ok_or(ModelError::StringIndexOutOfRange {
                index,
                len: self.0.len(),
            })
    }
}

/// Maps pprof ids to positions. Encoders almost always number ids `1..=n` in
/// table order, so that case needs no hash map.
enum IdIndex {
    Dense(usize),
    Sparse(HashMap<u64, usize>),
}

impl IdIndex {
    /// Indexes `ids`; a zero or repeated id is an invalid profile.
    fn new(
        kind: &str,
        ids: impl ExactSizeIterator<Item = u64> + Clone,
    ) -> Result<Self, ModelError> {
        let len = ids.len();
        if ids.clone().enumerate().all(|(i, id)| id == i as u64 + 1) {
            return Ok(Self::Dense(len));
        }
        let mut map = HashMap::default();
        for (i, id) in ids.enumerate() {
            if id == 0 {
                return Err(ModelError::InvalidProfile(format!(
                    "{kind} id must be non-zero"
                )));
            }
            if map.insert(id, i).is_some() {
                return Err(ModelError::InvalidProfile(format!(
                    "duplicate {kind} id {id}"
                )));
            }
        }
        Ok(Self::Sparse(map))
    }

    fn get(&self, id: u64) -> Option<usize> {
        match self {
            Self::Dense(len) => (id >= 1 && id <= *len as u64).then(|| id as usize - 1),
            Self::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// Resolves locations into frames, interning each distinct frame once.
pub(super) struct Symbols<'a> {
    profile: &'a Profile,
    strings: Strings<'a>,
    limits: &'a NormalizeLimits,
    locations: IdIndex,
    functions: IdIndex,
    mappings: IdIndex,
    /// Per location (by position): its frames as a range of `flat`, leaf first.
    resolved: Vec<Option<(u32, u32)>>,
    flat: Vec<u32>,
    frames: Vec<Frame>,
    frame_ids: HashMap<Frame, u32>,
}

impl<'a> Symbols<'a> {
    /// Indexes the profile's tables and checks every id and string index they
    /// use, so that a bad reference fails even when no sample reaches it.
    pub(super) fn new(
        profile: &'a Profile,
        limits: &'a NormalizeLimits,
    ) -> Result<Self, ModelError> {
        let strings = Strings::new(&profile.string_table);
        let locations = IdIndex::new("location", profile.location.iter().map(|l| l.id))?;
        let functions = IdIndex::new("function", profile.function.iter().map(|f| f.id))?;
        let mappings = IdIndex::new("mapping", profile.mapping.iter().map(|m| m.id))?;
        for f in &profile.function {
            strings.get(f.name)?;
            strings.get(f.system_name)?;
            strings.get(f.filename)?;
        }
        for m in &profile.mapping {
            strings.get(m.filename)?;
            strings.get(m.build_id)?;
        }
        for loc in &profile.location {
            if loc.mapping_id != 0 && mappings.get(loc.mapping_id).is_none() {
                return Err(ModelError::InvalidProfile(format!(
                    "location {} references unknown mapping id {}",
                    loc.id, loc.mapping_id
                )));
            }
            for line in &loc.line {
                if functions.get(line.function_id).is_none() {
                    return Err(ModelError::UnknownFunction(line.function_id));
                }
            }
        }
        Ok(Self {
            profile,
            strings,
            limits,
            locations,
            functions,
            mappings,
            resolved: vec![None; profile.location.len()],
            flat: Vec::new(),
            frames: Vec::new(),
            frame_ids: HashMap::default(),
        })
    }

    /// Writes the stack of `location_ids` (leaf first, as pprof stores it)
    /// into `out` **root first**, expanding inlined lines and keeping only
    /// the `max_stack_depth` leaf-most frames.
    pub(super) fn stack(
        &mut self,
        location_ids: &[u64],
        out: &mut Vec<u32>,
    ) -> Result<(), ModelError> {
        out.clear();
        let max = match self.limits.max_stack_depth {
            0 => usize::MAX,
            n => n,
        };
        for &id in location_ids {
            if out.len() >= max {
                break;
            }
            let (start, len) = self.location_frames(id)?;
            let frames = &self.flat[start as usize..(start + len) as usize];
            let room = max - out.len();
            out.extend_from_slice(&frames[..frames.len().min(room)]);
        }
        out.reverse();
        Ok(())
    }

    /// The frame table; every index handed out by [`Self::stack`] is valid in it.
    pub(super) fn into_frames(self) -> Vec<Frame> {
        self.frames
    }

    fn location_frames(&mut self, id: u64) -> Result<(u32, u32), ModelError> {
        if id == 0 {
            return Err(ModelError::InvalidProfile(
                "sample references location id 0".into(),
            ));
        }
        let pos = self
            .locations
            .get(id)
            .ok_or(ModelError::UnknownLocation(id))?;
        if let Some(range) = self.resolved[pos] {
            return Ok(range);
        }
        let profile = self.profile;
        let loc = &profile.location[pos];
        let start = self.flat.len() as u32;
        let binary = self.binary(loc)?;
        if loc.line.is_empty() {
            let frame = Frame {
                function: format!("0x{:x}", loc.address),
                binary: binary.to_string(),
                ..Default::default()
            };
            let idx = self.intern(frame);
            self.flat.push(idx);
        }
        for line in &loc.line {
            // Checked in `new`.
            let f = &profile.function[self.functions.get(line.function_id).unwrap_or_default()];
            let frame = Frame {
                function: self.symbol(f.name)?.to_string(),
                system_name: self.symbol(f.system_name)?.to_string(),
                file: self.symbol(f.filename)?.to_string(),
                line: line.line,
                binary: binary.to_string(),
            };
            let idx = self.intern(frame);
            self.flat.push(idx);
        }
        let range = (start, self.flat.len() as u32 - start);
        self.resolved[pos] = Some(range);
        Ok(range)
    }

    /// The (truncated) file name of the location's mapping, or "".
    fn binary(&self, loc: &Location) -> Result<&'a str, ModelError> {
        match self.mappings.get(loc.mapping_id) {
            Some(pos) => self.symbol(self.profile.mapping[pos].filename),
            None => Ok(""),
        }
    }

    fn symbol(&self, index: i64) -> Result<&'a str, ModelError> {
        Ok(self.limits.truncate_symbol(self.strings.get(index)?))
    }

    fn intern(&mut self, frame: Frame) -> u32 {
        if let Some(&idx) = self.frame_ids.get(&frame) {
            return idx;
        }
        let idx = self.frames.len() as u32;
        self.frames.push(frame.clone());
        self.frame_ids.insert(frame, idx);
        idx
    }
}
