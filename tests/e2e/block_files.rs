//! Blocks written from the real agent payloads are plain Parquet that a
//! third party (pyarrow) reads table by table, with the totals the agents sent.

use crate::harness::{agent_file, kiln_bin, python};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

/// Sum of values per sample type (`type:unit`), straight from a pprof.
fn raw_totals(pprof: &[u8]) -> BTreeMap<String, i64> {
    let mut bytes = Vec::new();
    if pprof.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(pprof)
            .read_to_end(&mut bytes)
            .unwrap();
    } else {
        bytes = pprof.to_vec();
    }
    let profile = kiln_proto::google::v1::Profile::decode(bytes.as_slice()).unwrap();
    let s = |i: i64| profile.string_table[i as usize].clone();
    let mut totals = BTreeMap::new();
    for (i, st) in profile.sample_type.iter().enumerate() {
        let sum: i64 = profile.sample.iter().map(|x| x.value[i]).sum();
        totals.insert(format!("{}:{}", s(st.r#type), s(st.unit)), sum);
    }
    totals
}

fn import(data_dir: &std::path::Path, format: &str, service: &str, files: &[std::path::PathBuf]) {
    let out = Command::new(kiln_bin())
        .args(["block", "import", "--data-dir"])
        .arg(data_dir)
        .args(["--format", format, "--service", service])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiln block import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const READ_BLOCKS: &str = r#"
import json, os, sys
import pyarrow.parquet as pq
root = sys.argv[1]
result = {}
blocks = os.path.join(root, "tenants", "anonymous", "blocks")
for block in sorted(os.listdir(blocks)):
    d = os.path.join(blocks, block)
    meta = json.load(open(os.path.join(d, "meta.json")))
    tables = {}
    for f in meta["files"]:
        t = pq.read_table(os.path.join(d, f["name"]))
        assert t.num_rows == f["rows"], (f["name"], t.num_rows, f["rows"])
        tables[f["name"]] = t
    series = tables["series.parquet"].to_pylist()
    types = {s["series_id"]: s["profile_type"] for s in series}
    services = {s["series_id"]: s["service_name"] for s in series}
    totals = {}
    for row in tables["samples.parquet"].select(["series_id", "value"]).to_pylist():
        key = services[row["series_id"]] + "|" + types[row["series_id"]]
        totals[key] = totals.get(key, 0) + row["value"]
    frames = tables["frames.parquet"].column("function").to_pylist()
    stacks = tables["stacks.parquet"].to_pylist()
    result[block] = {"totals": totals, "frames": len(frames), "stacks": len(stacks),
                     "labels": [s["labels"] for s in series]}
print(json.dumps(result))
"#;

#[test]
fn agent_payload_blocks_read_back_with_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let payloads = dir.path().join("payloads");
    std::fs::create_dir_all(&payloads).unwrap();
    let write = |name: &str| {
        let path = payloads.join(name);
        std::fs::write(&path, agent_file(name)).unwrap();
        path
    };
    import(
        &data,
        "pprof",
        "go-app",
        &[write("go-cpu.pb.gz"), write("go-heap.pb.gz")],
    );
    import(
        &data,
        "pprof",
        "node-app",
        &[write("nodejs-0.6.4-ingest-wall-cpu.pprof.gz")],
    );
    import(
        &data,
        "push-request",
        "ignored",
        &[write(
            "python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz",
        )],
    );
    import(
        &data,
        "folded",
        "rust-app",
        &[write("rust-pyroscope-0.5.8-ingest-folded.body.gz")],
    );

    let out = Command::new(python())
        .arg("-c")
        .arg(READ_BLOCKS)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = blocks.as_object().unwrap();
    assert_eq!(blocks.len(), 4, "one block per import");

    // Every (service, profile type) total equals the raw pprof sums.
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for block in blocks.values() {
        assert!(block["frames"].as_u64().unwrap() > 0);
        assert!(block["stacks"].as_u64().unwrap() > 0);
        for (key, total) in block["totals"].as_object().unwrap() {
            seen.insert(key.clone(), total.as_i64().unwrap());
        }
    }
    let cpu = raw_totals(&agent_file("go-cpu.pb.gz"));
    assert_eq!(
        seen["go-app|process_cpu:cpu:nanoseconds:cpu:nanoseconds"],
        cpu["cpu:nanoseconds"]
    );
    assert_eq!(
        seen["go-app|process_cpu:samples:count:cpu:nanoseconds"],
        cpu["samples:count"]
    );
    let heap = raw_totals(&agent_file("go-heap.pb.gz"));
    for t in [
        "alloc_objects:count",
        "alloc_space:bytes",
        "inuse_objects:count",
        "inuse_space:bytes",
    ] {
        let key = format!("go-app|memory:{t}:space:bytes");
        // Zero-valued series are dropped, so absent means the raw total was 0.
        assert_eq!(seen.get(&key).copied().unwrap_or(0), heap[t], "{key}");
    }
    let node = raw_totals(&agent_file("nodejs-0.6.4-ingest-wall-cpu.pprof.gz"));
    let node_total: i64 = seen
        .iter()
        .filter(|(k, _)| k.starts_with("node-app|"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(node_total, node.values().sum::<i64>());
    assert!(
        seen.keys()
            .any(|k| k.starts_with("probe.app|") || k.contains("|process_cpu")),
        "{seen:?}"
    );
    assert!(
        seen.keys()
            .any(|k| k.starts_with("rust-app|process_cpu:cpu:nanoseconds")),
        "{seen:?}"
    );
}

/// `kiln block <args…> --data-dir <data>`: (success, stdout, stderr).
fn block_command(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(kiln_bin())
        .arg("block")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn delete_removes_blocks_from_the_index_only_when_all_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let payload = dir.path().join("go-cpu.pb.gz");
    std::fs::write(&payload, agent_file("go-cpu.pb.gz")).unwrap();
    import(&data, "pprof", "a", std::slice::from_ref(&payload));
    import(&data, "pprof", "b", std::slice::from_ref(&payload));
    let (ok, listed, _) = block_command(&data, &["list"]);
    assert!(ok);
    let ids: Vec<String> = listed
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");

    // One unknown id: nothing is removed.
    let unknown = ulid::Ulid::from_parts(1, 42).to_string();
    let (ok, _, err) = block_command(&data, &["delete", &ids[0], &unknown]);
    assert!(!ok);
    assert!(
        err.contains(&format!("block {unknown} is not registered"))
            && err.contains("nothing was removed"),
        "{err}"
    );
    let (ok, _, err) = block_command(&data, &["delete", "not-a-ulid"]);
    assert!(!ok);
    assert!(err.contains("\"not-a-ulid\" is not a block id"), "{err}");
    assert_eq!(block_command(&data, &["list"]).1, listed);

    // Removed from the index; the folder stays for garbage collection.
    let (ok, out, err) = block_command(&data, &["delete", &ids[0]]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("removed {}", ids[0])), "{out}");
    let (_, after, _) = block_command(&data, &["list"]);
    assert_eq!(after.lines().count(), 1, "{after}");
    assert!(after.starts_with(&ids[1]), "{after}");
    assert!(
        data.join("tenants/anonymous/blocks").join(&ids[0]).is_dir(),
        "the folder is left to garbage collection"
    );
}
