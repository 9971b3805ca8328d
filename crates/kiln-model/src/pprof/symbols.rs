//! Symbol resolution: string table, id lookups, locations → deduplicated frames.

use super::view::{LocationRef, ProfileView};
use crate::error::ModelError;
use crate::limits::NormalizeLimits;
use crate::profile::Frame;
use foldhash::HashMap;
use std::borrow::Cow;
use std::collections::hash_map::Entry;

/// Bounds-checked access to a pprof string table.
#[derive(Clone, Copy)]
pub(super) struct Strings<'a>(&'a [&'a str]);

impl<'a> Strings<'a> {
    pub(super) fn new(table: &'a [&'a str]) -> Self {
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
            .copied()
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
    profile: &'a ProfileView<'a>,
    strings: Strings<'a>,
    limits: &'a NormalizeLimits,
    locations: IdIndex,
    functions: IdIndex,
    mappings: IdIndex,
    /// Per location (by position): its frames as a range of `flat`, leaf first.
    resolved: Vec<Option<(u32, u32)>>,
    flat: Vec<u32>,
    frames: Vec<Frame>,
    /// Distinct frames by content, borrowing the string table, so that a
    /// frame's strings are copied once (into `frames`) and never for lookups.
    frame_ids: HashMap<FrameKey<'a>, u32>,
}

/// A frame's identity: the same fields as [`Frame`], borrowed.
#[derive(PartialEq, Eq, Hash)]
struct FrameKey<'a> {
    function: Cow<'a, str>,
    system_name: &'a str,
    file: &'a str,
    line: i64,
    binary: &'a str,
}

impl FrameKey<'_> {
    fn to_frame(&self) -> Frame {
        Frame {
            function: self.function.to_string(),
            system_name: self.system_name.to_string(),
            file: self.file.to_string(),
            line: self.line,
            binary: self.binary.to_string(),
        }
    }
}

impl<'a> Symbols<'a> {
    /// Indexes the profile's tables and checks every id and string index they
    /// use, so that a bad reference fails even when no sample reaches it.
    pub(super) fn new(
        profile: &'a ProfileView<'a>,
        limits: &'a NormalizeLimits,
    ) -> Result<Self, ModelError> {
        let strings = Strings::new(&profile.strings);
        let locations = IdIndex::new("location", profile.locations.iter().map(|l| l.id))?;
        let functions = IdIndex::new("function", profile.functions.iter().map(|f| f.id))?;
        let mappings = IdIndex::new("mapping", profile.mappings.iter().map(|m| m.id))?;
        for f in &profile.functions {
            strings.get(f.name)?;
            strings.get(f.system_name)?;
            strings.get(f.filename)?;
        }
        for m in &profile.mappings {
            strings.get(m.filename)?;
            strings.get(m.build_id)?;
        }
        for loc in &profile.locations {
            if loc.mapping_id != 0 && mappings.get(loc.mapping_id).is_none() {
                return Err(ModelError::InvalidProfile(format!(
                    "location {} references unknown mapping id {}",
                    loc.id, loc.mapping_id
                )));
            }
            for line in &profile.lines[loc.lines.clone()] {
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
            resolved: vec![None; profile.locations.len()],
            flat: Vec::with_capacity(profile.lines.len()),
            frames: Vec::with_capacity(profile.lines.len()),
            frame_ids: HashMap::with_capacity_and_hasher(profile.lines.len(), Default::default()),
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
        let loc = &profile.locations[pos];
        let start = self.flat.len() as u32;
        let binary = self.binary(loc)?;
        let lines = &profile.lines[loc.lines.clone()];
        if lines.is_empty() {
            let idx = self.intern(FrameKey {
                function: Cow::Owned(format!("0x{:x}", loc.address)),
                system_name: "",
                file: "",
                line: 0,
                binary,
            });
            self.flat.push(idx);
        }
        for line in lines {
            // Checked in `new`.
            let f = &profile.functions[self.functions.get(line.function_id).unwrap_or_default()];
            let idx = self.intern(FrameKey {
                function: Cow::Borrowed(self.symbol(f.name)?),
                system_name: self.symbol(f.system_name)?,
                file: self.symbol(f.filename)?,
                line: line.line,
                binary,
            });
            self.flat.push(idx);
        }
        let range = (start, self.flat.len() as u32 - start);
        self.resolved[pos] = Some(range);
        Ok(range)
    }

    /// The (truncated) file name of the location's mapping, or "".
    fn binary(&self, loc: &LocationRef) -> Result<&'a str, ModelError> {
        match self.mappings.get(loc.mapping_id) {
            Some(pos) => self.symbol(self.profile.mappings[pos].filename),
            None => Ok(""),
        }
    }

    fn symbol(&self, index: i64) -> Result<&'a str, ModelError> {
        Ok(self.limits.truncate_symbol(self.strings.get(index)?))
    }

    fn intern(&mut self, key: FrameKey<'a>) -> u32 {
        match self.frame_ids.entry(key) {
            Entry::Occupied(seen) => *seen.get(),
            Entry::Vacant(new) => {
                let idx = self.frames.len() as u32;
                self.frames.push(new.key().to_frame());
                new.insert(idx);
                idx
            }
        }
    }
}
