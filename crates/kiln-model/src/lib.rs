//! Kiln's domain model: everything about profiles that needs no I/O.
//!
//! ```text
//!  write path:  bytes ─► pprof::decode (gzip sniff, bounded) ─► pprof::normalise ─► NormalizedProfile*
//!               folded / lines text ─► text::parse ─────────────────────────────┘
//!  read path:   selector::Selector ─► (block reader picks series) ─► tree::Tree (merge, diff)
//!               ─► flamegraph / flamegraph_diff / tree_bytes encodings (spec §2.2–2.4)
//!               ─► tree_pprof (pprof export of a merged tree)
//! ```
//!
//! Invariants:
//! - every parser fails closed with a typed error, never a panic;
//! - label sets are sorted by name and unique, so fingerprints are stable;
//! - one normalised profile holds exactly one sample type (one series).

pub mod clock;
pub mod error;
pub mod flamegraph;
pub mod flamegraph_diff;
pub mod labels;
pub mod limits;
pub mod pprof;
pub mod profile;
pub mod profile_type;
pub mod selector;
pub mod text;
pub mod tree;
pub mod tree_bytes;
pub mod tree_pprof;

pub use error::ModelError;
pub use labels::{Label, Labels};
pub use profile::{Frame, NormalizedProfile, Sample};
pub use profile_type::ProfileType;
