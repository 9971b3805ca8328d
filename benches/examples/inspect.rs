use kiln_benches::*;
fn main() {
    for f in ["go-cpu.pb.gz", "go-heap.pb.gz"] {
        let ps = normalise(&agent_file(f), &cpu_labels("x", 0));
        for p in &ps {
            let vals: Vec<i64> = p.samples.iter().map(|s| s.value).collect();
            let depth: usize = p.samples.iter().map(|s| s.stack.len()).sum::<usize>() / p.samples.len().max(1);
            println!("{f} {} samples={} frames={} avgdepth={} vals={:?}", p.profile_type.id(), p.samples.len(), p.frames.len(), depth, &vals[..vals.len().min(30)]);
        }
    }
}
