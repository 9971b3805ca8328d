#!/usr/bin/env bash
# SQL benchmark (issue #8): "top 20 functions by CPU over 24 h for one
# service", answered by `kiln sql` against a running `kiln server` and by
# DuckDB over the same Parquet block files joined by hand
# (tests/bench/duckdb_top_functions.py). The two answers must be equal, or
# the script fails. Results and method: docs/benchmarks.md, "SQL vs DuckDB".
#
# usage: benches/sql-vs-duckdb.sh [DATA_DIR] [RUNS]
#   DATA_DIR  the `kiln bench query` dataset (generated there if missing;
#             default target/kiln-bench-sql-24h); HOURS/SERVICES env pick
#             its size (default 24 h, 10 services)
#   RUNS      warm runs per engine after the first (cold) one (default 10)
# env: KILN_BIN (default target/release/kiln, built if missing), PAYLOADS
# (the agent payloads the fleet is made of; default ../shared/testdata/agents).
# tests/suites/40-sql.sh runs it on a 1 h, 2-service dataset as a check that
# the two answers agree.
# Run from the repository root.
set -euo pipefail
data=${1:-target/kiln-bench-sql-24h}
runs=${2:-10}
hours=${HOURS:-24}
services=${SERVICES:-10}
kiln=${KILN_BIN:-target/release/kiln}
payloads=${PAYLOADS:-../shared/testdata/agents}
py=.venv/bin/python
service=svc-000
profile_type=process_cpu:cpu:nanoseconds:cpu:nanoseconds
tenant=bench

[ -f Cargo.toml ] && [ -d benches ] || { echo "run from the repository root" >&2; exit 1; }
[ -x "$kiln" ] || cargo build --release -p kiln
[ -x "$py" ] || { echo "$py missing: run tests/deps/00-python.sh" >&2; exit 1; }
"$py" -c "import duckdb" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check duckdb==2.0.0

# The dataset (reused when its parameters match), without timing queries.
"$kiln" bench query --hours "$hours" --services "$services" --data-dir "$data" --payloads "$payloads" \
  --cold-runs 0 --runs 1 >/dev/null 2>"$data.gen.log" ||
  { cat "$data.gen.log" >&2; exit 1; }
# The data ends just before dataset.rs' END_NS, 2027-01-08T12:35:00Z.
end_ns=1799411700000000000
start_ns=$((end_ns - hours * 3600 * 1000000000))

# A server over the dataset (its compactor finds nothing to do: the data is
# already compacted, and its windows lie in the future).
tmp=$(mktemp -d)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# (Other KILN_* variables would configure it: only the tenancy is set.)
env $(env | grep -o '^KILN_[A-Z0-9_]*' | sed 's/^/-u /') KILN_AUTH__MULTITENANCY_ENABLED=true \
  "$kiln" server --listen "127.0.0.1:$port" \
  --data-dir "$data" >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 300); do
  curl -fsS "$url/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$url/ready" >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }

sql() { "$kiln" sql --url "$url" --tenant "$tenant" --format csv "$1"; }
# The blocks the metastore lists: what DuckDB may read.
sql "SELECT DISTINCT block FROM series ORDER BY 1" | tail -n +2 >"$tmp/blocks"

query="SELECT leaf(stack) AS function, SUM(value) AS cpu_ns FROM profile_samples \
WHERE service_name = '$service' AND profile_type = '$profile_type' \
AND time >= to_timestamp_nanos($start_ns) AND time < to_timestamp_nanos($end_ns) \
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"

# Kiln: the whole `kiln sql` command each run (process start, HTTP, Arrow
# IPC → CSV included); the first run meets the server's empty block caches.
kiln_ms=()
for _ in $(seq 0 "$runs"); do
  began=$(date +%s%N)
  sql "$query" >"$tmp/kiln.csv"
  kiln_ms+=($((($(date +%s%N) - began) / 1000)))
done

# The same query over HTTP with curl (no `kiln sql` process start): what
# the server takes, the fair counterpart of DuckDB's in-process time.
http_ms=()
for _ in $(seq 1 "$runs"); do
  http_ms+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "X-Scope-OrgID: $tenant" \
    -H 'Accept: text/csv' --data-binary "$query" "$url/api/v1/sql")")
done

"$py" tests/bench/duckdb_top_functions.py "$data/tenants/$tenant/blocks" "$tmp/blocks" \
  "$service" "$profile_type" "$start_ns" "$((end_ns - 1))" "$runs" \
  >"$tmp/duckdb.csv" 2>"$tmp/duckdb.json"

if ! diff -u "$tmp/kiln.csv" "$tmp/duckdb.csv"; then
  echo "the answers differ (kiln first, duckdb second)" >&2
  exit 1
fi
[ "$(wc -l <"$tmp/kiln.csv")" -gt 1 ] || { echo "empty answer" >&2; exit 1; }

"$py" - "$tmp/duckdb.json" "$(($(wc -l <"$tmp/kiln.csv") - 1))" "${http_ms[*]}" "${kiln_ms[@]}" <<'PY'
import json, statistics, sys
duck = json.load(open(sys.argv[1]))
rows = sys.argv[2]
http = [float(s) * 1000 for s in sys.argv[3].split()]
kiln = [int(us) / 1000 for us in sys.argv[4:]]
k_cold, k_warm = kiln[0], statistics.median(kiln[1:])
d_cold, d_warm = duck["cold_ms"], statistics.median(duck["warm_ms"])
print(f"answers equal ({rows} rows); DuckDB {duck['duckdb']}, {duck['threads']} threads")
print(f"{'':8}{'cold ms':>10}{'warm p50 ms':>14}{'warm min ms':>14}")
print(f"{'kiln':8}{k_cold:>10.1f}{k_warm:>14.1f}{min(kiln[1:]):>14.1f}")
print(f"{'http':8}{'':>10}{statistics.median(http):>14.1f}{min(http):>14.1f}")
print(f"{'duckdb':8}{d_cold:>10.1f}{d_warm:>14.1f}{min(duck['warm_ms']):>14.1f}")
print(f"DuckDB / Kiln: cold {d_cold / k_cold:.1f}x, warm {d_warm / k_warm:.1f}x "
      f"(kiln sql command); warm {d_warm / statistics.median(http):.1f}x (HTTP request)")
PY
echo "blocks: $(wc -l <"$tmp/blocks"); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kiln: $query"
head -4 "$tmp/kiln.csv"
