use super::*;
use kiln_block::{FORMAT_VERSION, FileMeta};
use ulid::Ulid;

const W: i64 = 600; // a 10-"second" window, in ns for readability

fn block(id: u128, level: u32, min: i64, max: i64, bytes: u64) -> BlockMeta {
    BlockMeta {
        format_version: FORMAT_VERSION,
        id: Ulid(id),
        tenant: "t".into(),
        level,
        min_time_ns: min,
        max_time_ns: max,
        sources: vec![],
        files: vec![FileMeta {
            name: "samples.parquet".into(),
            rows: 1,
            bytes,
            footer_bytes: 0,
        }],
        summary: Default::default(),
    }
}

fn ids(job: &Job) -> Vec<u128> {
    job.sources.iter().map(|b| b.id.0).collect()
}

#[test]
fn only_closed_windows_are_planned() {
    let blocks = [block(1, 0, 0, 10, 1), block(2, 0, 600, 610, 1)];
    // Window 0 closes at 600 + settle 50.
    assert!(plan_level("t", blocks.to_vec(), 0, W, 50, 649, 64).is_empty());
    let jobs = plan_level("t", blocks.to_vec(), 0, W, 50, 650, 64);
    assert_eq!(jobs.len(), 1);
    assert_eq!(ids(&jobs[0]), [1]);
    assert_eq!(jobs[0].eligible_at_ns, 650);
    assert_eq!(
        plan_level("t", blocks.to_vec(), 0, W, 50, 10_000, 64).len(),
        2
    );
}

#[test]
fn blocks_of_one_window_form_one_job_and_small_jobs_come_first() {
    let blocks = [
        block(1, 0, 0, 10, 5),
        block(2, 0, 20, 599, 5),
        block(3, 0, 600, 700, 1),
        block(4, 1, 0, 599, 100), // another level: ignored
        block(5, 0, 1200, 1300, 3),
    ];
    let jobs = plan_level("t", blocks.to_vec(), 0, W, 0, 10_000, 64);
    let all: Vec<Vec<u128>> = jobs.iter().map(ids).collect();
    assert_eq!(all, [vec![3], vec![5], vec![1, 2]]);
    assert!(
        jobs.iter()
            .all(|j| j.level == 0 && j.output_level == 1 && j.window_ns == W)
    );
}

#[test]
fn straddling_blocks_join_every_window_they_touch_once_all_are_closed() {
    let blocks = [
        block(1, 0, 0, 10, 1),
        block(2, 0, 500, 1300, 1), // windows 0..=2
        block(3, 0, 1250, 1250, 1),
        block(4, 0, 1900, 1950, 1), // window 3: separate
        block(5, 0, 2400, 2500, 1), // window 4: not closed yet
    ];
    // Window 2 closed, window 4 not.
    let jobs = plan_level("t", blocks.to_vec(), 0, W, 0, 2_400, 64);
    let all: Vec<Vec<u128>> = jobs.iter().map(ids).collect();
    assert_eq!(all, [vec![4], vec![1, 2, 3]]);
    // Before window 2 closes the straddler waits, and so does nothing else:
    // block 1 is compacted alone.
    let jobs = plan_level("t", blocks.to_vec(), 0, W, 0, 1_200, 64);
    let all: Vec<Vec<u128>> = jobs.iter().map(ids).collect();
    assert_eq!(all, [vec![1]]);
}

#[test]
fn negative_times_and_extreme_times_do_not_overflow() {
    let blocks = [
        block(1, 0, -5, -1, 1),
        block(2, 0, i64::MAX - 10, i64::MAX, 1),
        block(3, 0, i64::MIN, i64::MIN + 1, 1),
    ];
    let jobs = plan_level("t", blocks.to_vec(), 0, W, 0, 0, 64);
    let all: Vec<Vec<u128>> = jobs.iter().map(ids).collect();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&vec![1]) && all.contains(&vec![3]));
    assert_eq!(window_range(-1, W), (-600, -1));
    assert_eq!(window_range(i64::MAX / W, W).1, i64::MAX);
}

#[test]
fn top_level_duplicates_of_a_window_merge_and_single_blocks_stay() {
    let blocks = [
        block(1, 3, 0, 500, 1),
        block(2, 3, 550, 590, 1),  // late data of window 0
        block(3, 3, 600, 1100, 1), // window 1 alone
        block(4, 2, 0, 10, 1),     // another level
    ];
    let jobs = plan_top("t", blocks.to_vec(), 3, W, 64);
    assert_eq!(jobs.len(), 1);
    assert_eq!(ids(&jobs[0]), [1, 2]);
    assert_eq!((jobs[0].level, jobs[0].output_level), (3, 3));
    assert!(plan_top("t", blocks[2..].to_vec(), 3, W, 64).is_empty());
}

#[test]
fn lag_counts_from_the_oldest_eligible_block() {
    let blocks = [
        block(1, 0, 0, 10, 1),
        block(2, 0, 700, 710, 1),
        block(3, 1, 0, 10, 1),
    ];
    assert_eq!(oldest_eligible(&blocks, 0, W, 50, 649), None);
    assert_eq!(oldest_eligible(&blocks, 0, W, 50, 5_000), Some(650));
    assert_eq!(oldest_eligible(&blocks, 2, W, 50, 5_000), None);
}

#[test]
fn fan_in_is_bounded_by_splitting_components() {
    let blocks: Vec<BlockMeta> = (0..7)
        .map(|i| block(i, 0, i as i64 * 10, i as i64 * 10 + 5, 1))
        .collect();
    let jobs = plan_level("t", blocks.clone(), 0, W, 0, 10_000, 3);
    let all: Vec<Vec<u128>> = jobs.iter().map(ids).collect();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|j| j.len() <= 3));
    let mut every: Vec<u128> = all.concat();
    every.sort();
    assert_eq!(every, (0..7).collect::<Vec<_>>());
    // At the top, a lone leftover block is not rewritten.
    let top: Vec<BlockMeta> = (0..7)
        .map(|i| block(i, 3, i as i64 * 10, i as i64 * 10 + 5, 1))
        .collect();
    let jobs = plan_top("t", top, 3, W, 3);
    assert_eq!(
        jobs.iter().map(|j| j.sources.len()).collect::<Vec<_>>(),
        [3, 3]
    );
}
