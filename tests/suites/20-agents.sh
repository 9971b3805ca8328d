#!/usr/bin/env bash
# Real profiling agents, unchanged but for the server address, push to live
# Kiln servers and the pushed data is checked through querier.v1
# (tests/agents/kiln_check.py + each agent's expect*.json): the workload's own
# function names, plausible totals, the agent's tags as labels, and
# SelectSeries agreeing with the flame graph.
#   * pyroscope-go (TenantID + basic auth) → a server with multi-tenancy on;
#   * pyroscope-io 1.x and 0.8.16, @pyroscope/nodejs, the `pyroscope` crate
#     (pprof-rs backend, basic auth) → a second server, multi-tenancy off.
# All agents profile concurrently for $AGENT_SECONDS (default 20) seconds.
set -euo pipefail
source "$KILN_ROOT/tests/suites/lib.sh"
agents="$KILN_ROOT/tests/agents"
seconds=${AGENT_SECONDS:-20}
tenant=team-agents

echo "building the Go and Rust workloads"
(cd "$agents/go" && go build -o "$SUITE_TMP/agent-go" .)
CARGO_TARGET_DIR="$KILN_ROOT/target/agents" cargo build --quiet --locked \
  --manifest-path "$agents/rust/Cargo.toml"
rust_bin="$KILN_ROOT/target/agents/debug/kiln-agent-rust"

start_kiln agents-tenants KILN_AUTH__MULTITENANCY_ENABLED=true
tenant_url=$KILN_URL
start_kiln agents
url=$KILN_URL
start_ms=$(($(date +%s) * 1000 - 5000))

# name → command; each runs in the background with its own log.
declare -A pids
run_agent() {
  local name=$1
  shift
  (env DURATION="$seconds" "$@") >"$SUITE_TMP/agent-$name.log" 2>&1 &
  pids[$name]=$!
}
run_agent go env KILN_URL="$tenant_url" KILN_TENANT="$tenant" "$SUITE_TMP/agent-go"
run_agent python-1x env KILN_URL="$url" SERVICE=kiln.agents.python1 AGENT_TAG=pyroscope-io-1 \
  "$agents/python/.venv-1x/bin/python" "$agents/python/workload.py"
run_agent python-0.8 env KILN_URL="$url" SERVICE=kiln.agents.python08 AGENT_TAG=pyroscope-io-0.8 \
  "$agents/python/.venv-0.8/bin/python" "$agents/python/workload.py"
run_agent node env KILN_URL="$url" node "$agents/node/workload.js"
run_agent rust env KILN_URL="$url" "$rust_bin"
echo "agents running for ${seconds}s: ${!pids[*]}"

failed=0
for name in "${!pids[@]}"; do
  if ! wait "${pids[$name]}"; then
    echo "FAIL agent $name exited non-zero; its log:" >&2
    tail -n 40 "$SUITE_TMP/agent-$name.log" >&2
    failed=$((failed + 1))
  fi
done
# pyroscope-go logs failed uploads (e.g. a rejected Authorization or tenant).
if grep -E '\[ERROR\]|upload.*fail' "$SUITE_TMP/agent-go.log" >&2; then
  echo "FAIL agent go logged upload errors" >&2
  failed=$((failed + 1))
fi

check() {
  if python3 "$agents/kiln_check.py" "$@" --start-ms "$start_ms"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
}
passed=0
check "$agents/go/expect.json" --url "$tenant_url" --tenant "$tenant"
check "$agents/python/expect-1x.json" --url "$url"
check "$agents/python/expect-0.8.json" --url "$url"
check "$agents/node/expect.json" --url "$url"
check "$agents/rust/expect.json" --url "$url"

# Tenancy: the Go agent's data is its tenant's alone.
body='{"name":"service_name"}'
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" \
  "$tenant_url/querier.v1.QuerierService/LabelValues")
other=$(curl -fsS -H 'Content-Type: application/json' -H 'X-Scope-OrgID: someone-else' -d "$body" \
  "$tenant_url/querier.v1.QuerierService/LabelValues")
if [ "$status" = 401 ] && ! grep -q kiln.agents.go <<<"$other"; then
  passed=$((passed + 1))
else
  echo "FAIL tenancy: no tenant gave HTTP $status (want 401), another tenant saw: $other" >&2
  failed=$((failed + 1))
fi

# Every push was accepted, and both push paths were used: Connect Push
# (pyroscope-io 1.x) and /ingest (the others). Counters from /metrics.
for u in "$tenant_url" "$url"; do
  metrics=$(curl -fsS "$u/metrics")
  rejected=$(grep '^kiln_ingest_pushes_total{' <<<"$metrics" | grep -v 'outcome="ok"' || true)
  if [ -n "$rejected" ]; then
    echo "FAIL $u rejected pushes: $rejected" >&2
    failed=$((failed + 1))
  fi
done
for protocol in connect ingest; do
  if grep -q "^kiln_ingest_pushes_total{.*protocol=\"$protocol\",outcome=\"ok\"}" <<<"$metrics"; then
    passed=$((passed + 1))
  else
    echo "FAIL no accepted $protocol pushes on $url" >&2
    failed=$((failed + 1))
  fi
done

echo "agents: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
