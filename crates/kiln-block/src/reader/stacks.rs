//! `stacks.parquet` + `frames.parquet` in memory: stack id → frames, root first.
//!
//! Parent pointers live in a flat array indexed by stack id, with each node's
//! depth precomputed, so resolving a stack is one exact-size allocation and
//! one array walk. Loading checks `parent_id < stack_id`, so walks terminate.

use super::arrays::column;
use crate::BlockError;
use crate::schema::cols;
use arrow::array::{Int64Array, RecordBatch, StringArray, UInt32Array};
use kiln_model::Frame;

/// Resolves block-local stack ids. Stack id 0 is the root: the empty stack.
#[derive(Debug, Clone)]
pub struct StackResolver {
    /// Indexed by stack id; entry 0 is the root.
    parent: Vec<u32>,
    frame: Vec<u32>,
    depth: Vec<u32>,
    frames: Vec<Frame>,
}

impl StackResolver {
    pub(crate) fn from_batches(
        stacks: &[RecordBatch],
        frames: &[RecordBatch],
    ) -> Result<Self, BlockError> {
        let mut table = Vec::new();
        for b in frames {
            let ids = column::<UInt32Array>(b, cols::FRAME_ID)?;
            let function = column::<StringArray>(b, cols::FUNCTION)?;
            let system_name = column::<StringArray>(b, cols::SYSTEM_NAME)?;
            let file = column::<StringArray>(b, cols::FILE)?;
            let line = column::<Int64Array>(b, cols::LINE)?;
            let binary = column::<StringArray>(b, cols::BINARY)?;
            for row in 0..b.num_rows() {
                if ids.value(row) as usize != table.len() {
                    return Err(BlockError::corrupt(format!(
                        "frames.parquet row {} has frame_id {}",
                        table.len(),
                        ids.value(row)
                    )));
                }
                table.push(Frame {
                    function: function.value(row).to_string(),
                    system_name: system_name.value(row).to_string(),
                    file: file.value(row).to_string(),
                    line: line.value(row),
                    binary: binary.value(row).to_string(),
                });
            }
        }
        let rows: usize = stacks.iter().map(RecordBatch::num_rows).sum();
        let mut r = Self {
            parent: Vec::with_capacity(rows + 1),
            frame: Vec::with_capacity(rows + 1),
            depth: Vec::with_capacity(rows + 1),
            frames: table,
        };
        r.parent.push(0);
        r.frame.push(0);
        r.depth.push(0);
        for b in stacks {
            let ids = column::<UInt32Array>(b, cols::STACK_ID)?;
            let parents = column::<UInt32Array>(b, cols::PARENT_ID)?;
            let frame_ids = column::<UInt32Array>(b, cols::FRAME_ID)?;
            for row in 0..b.num_rows() {
                let id = r.parent.len() as u32;
                let (parent, frame) = (parents.value(row), frame_ids.value(row));
                if ids.value(row) != id || parent >= id || frame as usize >= r.frames.len() {
                    return Err(BlockError::corrupt(format!(
                        "stacks.parquet row {}: stack_id {}, parent_id {parent}, frame_id {frame} \
                         (expected stack_id {id}, parent below it, frame below {})",
                        id - 1,
                        ids.value(row),
                        r.frames.len()
                    )));
                }
                r.depth.push(r.depth[parent as usize] + 1);
                r.parent.push(parent);
                r.frame.push(frame);
            }
        }
        Ok(r)
    }

    /// Number of stack nodes; valid stack ids are `0..=len()`.
    pub fn len(&self) -> usize {
        self.parent.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame table; frame id `i` is entry `i`.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    fn check(&self, stack_id: u32) -> Result<usize, BlockError> {
        let i = stack_id as usize;
        if i < self.parent.len() {
            Ok(i)
        } else {
            Err(BlockError::corrupt(format!(
                "stack id {stack_id} out of range (block has {} stacks)",
                self.len()
            )))
        }
    }

    /// The parent of `stack_id` (0 for a root-level frame and for the root itself).
    pub fn parent(&self, stack_id: u32) -> Result<u32, BlockError> {
        Ok(self.parent[self.check(stack_id)?])
    }

    /// The frame id of `stack_id`'s leaf (`None` for the root): with
    /// [`Self::parent`] this walks the trie node by node, as merging does.
    pub fn frame_id(&self, stack_id: u32) -> Result<Option<u32>, BlockError> {
        let i = self.check(stack_id)?;
        Ok((i > 0).then(|| self.frame[i]))
    }

    /// The leaf frame of `stack_id` (`None` for the root).
    pub fn leaf(&self, stack_id: u32) -> Result<Option<&Frame>, BlockError> {
        let i = self.check(stack_id)?;
        Ok((i > 0).then(|| &self.frames[self.frame[i] as usize]))
    }

    /// Number of frames in `stack_id`.
    pub fn depth(&self, stack_id: u32) -> Result<usize, BlockError> {
        Ok(self.depth[self.check(stack_id)?] as usize)
    }

    /// Writes the frame ids of `stack_id`, root first, into `out` (cleared first).
    pub fn frame_ids_into(&self, stack_id: u32, out: &mut Vec<u32>) -> Result<(), BlockError> {
        let mut i = self.check(stack_id)?;
        let depth = self.depth[i] as usize;
        out.clear();
        out.resize(depth, 0);
        for slot in out.iter_mut().rev() {
            *slot = self.frame[i];
            i = self.parent[i] as usize;
        }
        Ok(())
    }

    /// The frames of `stack_id`, root first.
    pub fn resolve(&self, stack_id: u32) -> Result<Vec<&Frame>, BlockError> {
        let mut ids = Vec::new();
        self.frame_ids_into(stack_id, &mut ids)?;
        Ok(ids.into_iter().map(|f| &self.frames[f as usize]).collect())
    }

    /// The function names of `stack_id`, root first.
    pub fn function_names(&self, stack_id: u32) -> Result<Vec<&str>, BlockError> {
        Ok(self
            .resolve(stack_id)?
            .into_iter()
            .map(|f| f.function.as_str())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use arrow::array::ArrayRef;
    use std::sync::Arc;

    fn frames(names: &[&str]) -> RecordBatch {
        let n = names.len();
        let empty = || -> ArrayRef { Arc::new(StringArray::from(vec![""; n])) };
        RecordBatch::try_new(
            schema::frames(),
            vec![
                Arc::new(UInt32Array::from_iter_values(0..n as u32)),
                Arc::new(StringArray::from(names.to_vec())),
                empty(),
                empty(),
                Arc::new(Int64Array::from(vec![0; n])),
                empty(),
            ],
        )
        .unwrap()
    }

    fn stacks(rows: &[(u32, u32, u32)]) -> RecordBatch {
        let col = |f: fn(&(u32, u32, u32)) -> u32| -> ArrayRef {
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(f)))
        };
        RecordBatch::try_new(
            schema::stacks(),
            vec![col(|r| r.0), col(|r| r.1), col(|r| r.2)],
        )
        .unwrap()
    }

    #[test]
    fn resolves_root_first_and_rejects_bad_pointers() {
        let f = frames(&["a", "b", "c"]);
        let r = StackResolver::from_batches(
            &[stacks(&[(1, 0, 0), (2, 1, 1), (3, 2, 2)])],
            std::slice::from_ref(&f),
        )
        .unwrap();
        assert_eq!(r.function_names(3).unwrap(), ["a", "b", "c"]);
        assert_eq!((r.depth(3).unwrap(), r.parent(3).unwrap()), (3, 2));
        assert_eq!(r.leaf(0).unwrap(), None);
        for bad in [
            vec![(1, 1, 0)],            // a cycle: parent not below the node
            vec![(1, 0, 0), (3, 1, 1)], // ids not dense
            vec![(1, 0, 7)],            // frame out of range
        ] {
            let err =
                StackResolver::from_batches(&[stacks(&bad)], std::slice::from_ref(&f)).unwrap_err();
            assert!(matches!(err, BlockError::Corrupt(_)), "{bad:?}: {err}");
        }
    }
}
