#!/usr/bin/env bash
# Protocol clients from other ecosystems against one Kiln server, each with
# code generated from Kiln's own protos (tests/protocols/README.md): buf curl
# (Connect, gRPC, gRPC-Web), connect-go and grpc-go, @connectrpc/connect-node,
# Python grpcio. Each pushes the shared fixture under its own service names,
# then checks ProfileTypes, LabelNames, LabelValues, SelectSeries,
# SelectMergeStacktraces, SelectMergeProfile and Diff against
# tests/protocols/fixture.json.
set -euo pipefail
source "$KILN_ROOT/tests/suites/lib.sh"
dir="$KILN_ROOT/tests/protocols"
fixture="$dir/fixture.json"

# Regenerates only if proto/ changed since install; go build is cached.
bash "$dir/generate.sh"
(cd "$dir/go" && go build -o bin/ ./cmd/...)

start_kiln protocols

# The clients run concurrently (their service names keep their data apart);
# each one's output is printed after it finishes.
names=()
pids=()
client() {
  local name=$1
  shift
  # Each client bounds its own calls; this bounds a client that hangs anyway.
  timeout 300 "$@" >"$SUITE_TMP/client-${#names[@]}.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}
client "buf curl" bash "$dir/buf/run.sh" "$KILN_URL" "$fixture"
client connect-go "$dir/go/bin/connectclient" "$KILN_URL" "$fixture"
client grpc-go "$dir/go/bin/grpcclient" "$KILN_URL" "$fixture"
client connect-node node "$dir/node/client.js" "$KILN_URL" "$fixture"
client grpcio "$KILN_ROOT/.venv/bin/python" "$dir/python/client.py" "$KILN_URL" "$fixture"

passed=0
failed=0
for i in "${!pids[@]}"; do
  echo "--- ${names[$i]}"
  if wait "${pids[$i]}"; then
    cat "$SUITE_TMP/client-$i.log"
    passed=$((passed + 1))
  else
    cat "$SUITE_TMP/client-$i.log"
    echo "client ${names[$i]} FAILED" >&2
    failed=$((failed + 1))
  fi
done
echo "protocol clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
