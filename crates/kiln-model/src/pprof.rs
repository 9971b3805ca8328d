//! pprof ingestion: bytes → [`Profile`] → one [`NormalizedProfile`] per series.
//!
//! ```text
//!  bytes ─► decode (sniff 1f 8b, bounded gunzip, prost) ─► google.v1.Profile
//!        ─► normalise (validate, resolve symbols, lift sample labels,
//!                      one series per sample type × sample-label set)
//!        ─► Vec<NormalizedProfile> sharing one frame table
//! ```
//!
//! [`decode_and_normalise`] (the Push path) does the same without the prost
//! `Profile`: `wire` reads the protobuf into a `view::ProfileView` of flat
//! tables with strings borrowed from the input, falling back to prost for
//! anything it does not handle, so results and errors are identical.
//!
//! Series labels are built by [`build_series_labels`], which the text formats
//! reuse so that every ingest path validates labels the same way.
//!
//! [`Profile`]: kiln_proto::google::v1::Profile
//! [`NormalizedProfile`]: crate::NormalizedProfile

mod decode;
mod normalise;
mod series;
mod symbols;
mod view;
mod wire;

pub use decode::{decode, decompress_if_gzip, is_gzip};
pub use normalise::{decode_and_normalise, normalise};
pub(crate) use series::with_derived_labels;
pub use series::{build_series_labels, sanitize_label_name};

#[cfg(test)]
mod tests;
