//! Label selectors against one block: summary checks, postings, call sites.

use kiln_block::{BlockError, BlockMeta, SeriesIndex, StackResolver};
use kiln_model::labels::names;
use kiln_model::selector::{MatchOp, Selector};
use roaring::RoaringBitmap;

/// False when the block's summary proves no series can match: the selector
/// pins (`=`) a profile type or service the block does not have.
pub(crate) fn may_match(meta: &BlockMeta, selector: &Selector) -> bool {
    let summary = &meta.summary;
    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
    selector
        .matchers()
        .iter()
        .filter(|m| m.op() == MatchOp::Equal)
        .all(|m| match m.name() {
            names::PROFILE_TYPE => has(&summary.profile_types, m.value()),
            names::SERVICE_NAME => has(&summary.services, m.value()),
            _ => true,
        })
}

/// Series ids of `index` whose labels satisfy `selector`.
///
/// Matchers that cannot match a missing label (`name="v"` with `v` non-empty,
/// `name=~re` where `re` does not match "") narrow the candidates through the
/// postings first, Prometheus-style; then every matcher is checked on the
/// remaining candidates (those postings are exact, so only the other
/// matchers need it), which keeps the semantics exactly those of
/// [`Selector::matches`].
pub(crate) fn select_series(index: &SeriesIndex, selector: &Selector) -> RoaringBitmap {
    let mut candidates: Option<RoaringBitmap> = None;
    let mut residual = false;
    for m in selector.matchers() {
        let narrowed = match m.op() {
            MatchOp::Equal if !m.value().is_empty() => index
                .postings(m.name(), m.value())
                .cloned()
                .unwrap_or_default(),
            MatchOp::RegexMatch if !m.matches("") => index
                .label_values(m.name())
                .filter(|v| m.matches(v))
                .filter_map(|v| index.postings(m.name(), v))
                .fold(RoaringBitmap::new(), |acc, b| acc | b),
            _ => {
                residual = true;
                continue;
            }
        };
        let next = match candidates.take() {
            Some(c) => c & narrowed,
            None => narrowed,
        };
        if next.is_empty() {
            return next;
        }
        candidates = Some(next);
    }
    let candidates = candidates.unwrap_or_else(|| index.all());
    if residual {
        index.select_within(&candidates, |labels| selector.matches(labels))
    } else {
        candidates
    }
}

/// Stack ids of the block whose root-first function names start with
/// `call_site`. One pass over the parent-pointer stack tree (parents come
/// before children), so the cost is linear in the number of stacks.
pub(crate) fn call_site_stacks(
    resolver: &StackResolver,
    call_site: &[String],
) -> Result<RoaringBitmap, BlockError> {
    const MISS: u32 = u32::MAX;
    let want = call_site.len() as u32;
    // matched[id] = how many call-site frames the path to `id` matched, or MISS.
    let mut matched = vec![0u32; resolver.len() + 1];
    let mut out = RoaringBitmap::new();
    for id in 1..=resolver.len() as u32 {
        let parent = matched[resolver.parent(id)? as usize];
        let m = if parent == MISS {
            MISS
        } else if parent >= want {
            want
        } else {
            let name = resolver.leaf(id)?.map_or("", |f| f.function.as_str());
            if name == call_site[parent as usize] {
                parent + 1
            } else {
                MISS
            }
        };
        matched[id as usize] = m;
        if m == want {
            out.insert(id);
        }
    }
    Ok(out)
}
