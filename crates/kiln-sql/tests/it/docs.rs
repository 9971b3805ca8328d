//! The ten worked queries of `docs/sql.md`, read from the document itself,
//! each checked against brute force over the ingested profiles.

use crate::data::*;
use kiln_model::NormalizedProfile;
use kiln_sql::functions::names;
use std::collections::{BTreeMap, BTreeSet};

/// `-- qN:` code blocks of docs/sql.md, by N.
fn documented_queries() -> BTreeMap<u32, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/sql.md");
    let doc = std::fs::read_to_string(path).expect("docs/sql.md");
    let mut out = BTreeMap::new();
    for block in doc.split("```sql\n").skip(1) {
        let body = block.split("```").next().unwrap();
        if let Some(rest) = body.strip_prefix("-- q") {
            let n: u32 = rest.split(':').next().unwrap().parse().unwrap();
            out.insert(n, body.to_string());
        }
    }
    out
}

fn cpu(env: &Env) -> impl Iterator<Item = &NormalizedProfile> {
    env.data.acme().filter(|p| p.profile_type.id() == CPU)
}

/// Sorted by value descending, then key; first `n`.
fn top(map: BTreeMap<String, i64>, n: usize) -> Vec<Vec<String>> {
    let mut v: Vec<(String, i64)> = map.into_iter().filter(|(_, v)| *v != 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(n)
        .map(|(k, v)| vec![k, v.to_string()])
        .collect()
}

#[tokio::test]
async fn the_ten_documented_queries_answer_correctly() {
    let env = Env::new().await;
    let q = documented_queries();
    assert_eq!(
        q.keys().copied().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );

    // q1: top functions by self CPU.
    let got = env.rows(TENANT, &q[&1]).await;
    assert_eq!(got, top(leaf_totals(cpu(&env), CPU), 5), "q1");
    assert!(
        got.iter().any(|r| r[0] == "crypto/sha256.block"),
        "q1: the Go hashing loop: {got:?}"
    );

    // q2: CPU by module per hour.
    let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for p in cpu(&env) {
        let hour = p.time_nanos.div_euclid(HOUR_NS) * HOUR_NS;
        for s in &p.samples {
            let leaf = names(p, &s.stack).pop().unwrap_or_default();
            let module = names::module(&leaf, None).unwrap_or_default();
            *want.entry((hour, module)).or_default() += s.value;
        }
    }
    let result = env.query(TENANT, &q[&2]).await;
    let mut got: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for b in &result.batches {
        let hours = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .unwrap();
        for r in 0..b.num_rows() {
            let module = arrow::util::display::array_value_to_string(b.column(1), r).unwrap();
            let v: i64 = arrow::util::display::array_value_to_string(b.column(2), r)
                .unwrap()
                .parse()
                .unwrap();
            got.insert((hours.value(r), module), v);
        }
    }
    assert_eq!(got, want, "q2");
    assert!(
        got.keys().any(|(_, m)| m == "crypto") && got.keys().any(|(_, m)| m == "rustlegacy"),
        "q2: {got:?}"
    );

    // q3: in-use growth per function; window B holds two snapshots, A one.
    let a: Vec<NormalizedProfile> = env
        .data
        .go_heap
        .iter()
        .filter(|p| p.profile_id == "heap-a")
        .cloned()
        .collect();
    let got = env.rows(TENANT, &q[&3]).await;
    assert_eq!(got, top(leaf_totals(a.iter(), INUSE), 5), "q3");
    assert!(!got.is_empty(), "q3: the leak shows");

    // q4: services by profile type.
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in env.data.acme() {
        want.entry(p.profile_type.id())
            .or_default()
            .insert(p.service_name().to_string());
    }
    let want: Vec<Vec<String>> = want
        .into_iter()
        .map(|(t, s)| {
            vec![
                t,
                s.len().to_string(),
                s.into_iter().collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    assert_eq!(env.rows(TENANT, &q[&4]).await, want, "q4");

    // q5: label cardinality over the stored series.
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in env.data.acme() {
        for l in p.labels.iter() {
            values
                .entry(l.name.clone())
                .or_default()
                .insert(l.value.clone());
        }
    }
    let want = top(
        values
            .into_iter()
            .map(|(k, v)| (k, v.len() as i64))
            .collect(),
        usize::MAX,
    );
    assert_eq!(env.rows(TENANT, &q[&5]).await, want, "q5");

    // q6: services whose stacks hash (Go) or recurse in fib (Rust).
    let re = regex::Regex::new("sha256|fib").unwrap();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for p in env
        .data
        .acme()
        .filter(|p| p.profile_type.id().contains(":cpu:nanoseconds:"))
    {
        for s in &p.samples {
            if names(p, &s.stack).iter().any(|n| re.is_match(n)) {
                *want.entry(p.service_name().to_string()).or_default() += s.value;
            }
        }
    }
    let got = env.rows(TENANT, &q[&6]).await;
    assert_eq!(got, top(want, usize::MAX), "q6");
    for service in ["go-app", "probe.rustlegacy"] {
        assert!(
            got.iter().any(|r| r[0] == service),
            "q6: {service} in {got:?}"
        );
    }

    // q7: the flame graph, pruned to 4 nodes like the query API would.
    let mut tree = kiln_model::tree::Tree::new();
    for p in env
        .data
        .go_cpu
        .iter()
        .filter(|p| p.profile_type.id() == CPU)
    {
        for s in &p.samples {
            tree.insert_stack(names(p, &s.stack), s.value);
        }
    }
    let got = env.rows(TENANT, &q[&7]).await;
    let json: serde_json::Value = serde_json::from_str(&got[0][0]).unwrap();
    assert_eq!(
        json,
        serde_json::to_value(kiln_model::flamegraph::flamegraph(&tree, 4)).unwrap(),
        "q7"
    );
    let nodes = |g: &kiln_proto::querier::v1::FlameGraph| -> usize {
        g.levels.iter().map(|l| l.values.len() / 4).sum()
    };
    let pruned = kiln_model::flamegraph::flamegraph(&tree, 4);
    let whole = kiln_model::flamegraph::flamegraph(&tree, 0);
    assert!(
        nodes(&pruned) < nodes(&whole),
        "q7: max_nodes prunes: {} vs {}",
        nodes(&pruned),
        nodes(&whole)
    );

    // q8: CPU per env label and service (absent label → NULL, sorted last).
    let mut want: BTreeMap<(Option<String>, String), i64> = BTreeMap::new();
    for p in env
        .data
        .acme()
        .filter(|p| p.profile_type.id().starts_with("process_cpu:cpu:"))
    {
        *want
            .entry((
                p.labels.get("env").map(str::to_string),
                p.service_name().to_string(),
            ))
            .or_default() += p.total();
    }
    let mut want: Vec<((Option<String>, String), i64)> = want.into_iter().collect();
    want.sort_by(|a, b| {
        (a.0.0.is_none(), &a.0.0)
            .cmp(&(b.0.0.is_none(), &b.0.0))
            .then(b.1.cmp(&a.1))
    });
    let want: Vec<Vec<String>> = want
        .into_iter()
        .map(|((e, s), v)| vec![e.unwrap_or_default(), s, v.to_string()])
        .collect();
    assert_eq!(env.rows(TENANT, &q[&8]).await, want, "q8");

    // q9: top Go packages by self CPU.
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for (leaf, v) in leaf_totals(env.data.go_cpu.iter(), CPU) {
        if let Some(p) = names::go_package(&leaf) {
            *want.entry(p).or_default() += v;
        }
    }
    let got = env.rows(TENANT, &q[&9]).await;
    assert_eq!(got, top(want, 3), "q9");
    assert_eq!(got[0][0], "crypto/sha256", "q9");

    // q10: profiles and totals per service.
    let mut want: BTreeMap<String, (BTreeSet<String>, i64)> = BTreeMap::new();
    for p in env.data.acme() {
        let e = want.entry(p.service_name().to_string()).or_default();
        e.0.insert(p.profile_id.clone());
        e.1 += p.total();
    }
    let want: Vec<Vec<String>> = want
        .into_iter()
        .map(|(s, (ids, t))| vec![s, ids.len().to_string(), t.to_string()])
        .collect();
    assert_eq!(env.rows(TENANT, &q[&10]).await, want, "q10");
}
