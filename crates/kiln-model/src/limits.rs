//! Per-tenant limits applied while decoding and normalising a profile.

use serde::{Deserialize, Serialize};

/// Ingest limits, with Pyroscope's defaults (spec §8) so unmodified agents
/// see the same accept/reject behaviour. A value of `0` means "no limit".
///
/// Stack depth and symbol length are *truncating* limits; every other limit
/// rejects the profile with a typed [`crate::ModelError`] naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NormalizeLimits {
    /// Largest decompressed profile (`validation.max-profile-size-bytes`).
    pub max_decompressed_bytes: usize,
    /// Most samples in one pprof (`validation.max-profile-stacktrace-samples`).
    pub max_samples: usize,
    /// Most labels on one pprof sample (`…-stacktrace-sample-labels`).
    pub max_sample_labels: usize,
    /// Deeper stacks keep their leaf-most frames (`…-stacktrace-depth`).
    pub max_stack_depth: usize,
    /// Longer symbols are cut at a char boundary (`…-symbol-value-length`), in bytes.
    pub max_symbol_len: usize,
    /// Most label names per series (`validation.max-label-names-per-series`).
    pub max_label_names: usize,
    /// Longest label name in bytes (`validation.max-length-label-name`).
    pub max_label_name_len: usize,
    /// Longest label value in bytes (`validation.max-length-label-value`).
    pub max_label_value_len: usize,
}

impl Default for NormalizeLimits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_samples: 16_000,
            max_sample_labels: 100,
            max_stack_depth: 1000,
            max_symbol_len: 65_535,
            max_label_names: 30,
            max_label_name_len: 1024,
            max_label_value_len: 2048,
        }
    }
}

impl NormalizeLimits {
    /// No limit at all; for tests and trusted internal re-ingestion.
    pub fn unlimited() -> Self {
        Self {
            max_decompressed_bytes: 0,
            max_samples: 0,
            max_sample_labels: 0,
            max_stack_depth: 0,
            max_symbol_len: 0,
            max_label_names: 0,
            max_label_name_len: 0,
            max_label_value_len: 0,
        }
    }

    /// Cuts `symbol` to at most `max_symbol_len` bytes without splitting a char.
    pub fn truncate_symbol<'a>(&self, symbol: &'a str) -> &'a str {
        truncate_at_char_boundary(symbol, self.max_symbol_len)
    }
}

/// True when `limit` is set (non-zero) and `n` is above it.
pub(crate) fn exceeds(limit: usize, n: usize) -> bool {
    limit != 0 && n > limit
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary; `max == 0` means no limit.
pub(crate) fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    if max == 0 || s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_pyroscope() {
        let l = NormalizeLimits::default();
        assert_eq!(l.max_decompressed_bytes, 4_194_304);
        assert_eq!(l.max_samples, 16_000);
        assert_eq!(l.max_sample_labels, 100);
        assert_eq!(l.max_stack_depth, 1000);
        assert_eq!(l.max_symbol_len, 65_535);
        assert_eq!(l.max_label_names, 30);
        assert_eq!(l.max_label_name_len, 1024);
        assert_eq!(l.max_label_value_len, 2048);
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(!exceeds(0, usize::MAX));
        assert!(exceeds(3, 4));
        assert!(!exceeds(3, 3));
        assert_eq!(truncate_at_char_boundary("abcdef", 0), "abcdef");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        // 'é' is two bytes: cutting at 2 would split it.
        assert_eq!(truncate_at_char_boundary("aé", 2), "a");
        assert_eq!(truncate_at_char_boundary("aé", 3), "aé");
        assert_eq!(truncate_at_char_boundary("abc", 2), "ab");
        let l = NormalizeLimits {
            max_symbol_len: 4,
            ..Default::default()
        };
        assert_eq!(l.truncate_symbol("日本"), "日");
    }
}
