//! Failpoints: named points of a job where a test can make the compactor
//! stop as if it had been killed (no cleanup, no retry), to prove that every
//! intermediate state is safe and that a restarted compactor recovers.
//!
//! ```text
//!  job:       BeforeUpload ─ output 1 ─ AfterFirstOutput ─ … ─ AfterUpload ─ markers ─ BeforeSwap ─ replace ─ AfterSwap
//!  retention: markers ─ RetentionBeforeDelete ─ metastore.delete
//!  deletion:  DELETE meta.json ─ MidObjectDelete ─ DELETE data files ─ DELETE marker
//! ```

use crate::CompactorError;
use std::collections::HashMap;
use std::sync::Mutex;

/// A point in a job, retention or deletion step (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failpoint {
    /// A job is planned; nothing written yet.
    BeforeUpload,
    /// The first output block of a job is committed, others may follow.
    AfterFirstOutput,
    /// Every output block is uploaded; no marker written, no swap yet.
    AfterUpload,
    /// Deletion markers of the sources are written; the swap is not done.
    BeforeSwap,
    /// The metastore swapped sources for outputs; sources not deleted yet.
    AfterSwap,
    /// Retention marked expired blocks but did not remove them from the
    /// metastore yet.
    RetentionBeforeDelete,
    /// A block's `meta.json` is deleted, its data files and marker not yet.
    MidObjectDelete,
}

impl Failpoint {
    /// Every failpoint, in the order a run meets them.
    pub const ALL: [Failpoint; 7] = [
        Failpoint::RetentionBeforeDelete,
        Failpoint::BeforeUpload,
        Failpoint::AfterFirstOutput,
        Failpoint::AfterUpload,
        Failpoint::BeforeSwap,
        Failpoint::AfterSwap,
        Failpoint::MidObjectDelete,
    ];
}

/// The armed failpoints of one compactor. Disarmed (the default) they cost
/// one uncontended lock per point.
#[derive(Debug, Default)]
pub struct Failpoints {
    /// Failpoint → how many more hits to let pass before firing.
    armed: Mutex<HashMap<Failpoint, u32>>,
}

impl Failpoints {
    /// Fires `point` once, after letting `skip` hits pass.
    pub fn arm(&self, point: Failpoint, skip: u32) {
        self.lock().insert(point, skip);
    }

    /// Disarms every failpoint.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Failpoint, u32>> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns [`CompactorError::Failpoint`] if `point` is armed and due.
    pub(crate) fn check(&self, point: Failpoint) -> Result<(), CompactorError> {
        let mut armed = self.lock();
        match armed.get_mut(&point) {
            Some(0) => {
                armed.remove(&point);
                tracing::warn!(?point, "failpoint fired");
                Err(CompactorError::Failpoint(point))
            }
            Some(skip) => {
                *skip -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_after_skipping() {
        let f = Failpoints::default();
        assert!(f.check(Failpoint::AfterSwap).is_ok());
        f.arm(Failpoint::AfterSwap, 1);
        assert!(f.check(Failpoint::AfterSwap).is_ok());
        assert!(matches!(
            f.check(Failpoint::AfterSwap),
            Err(CompactorError::Failpoint(Failpoint::AfterSwap))
        ));
        assert!(f.check(Failpoint::AfterSwap).is_ok());
    }
}
