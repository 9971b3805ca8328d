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

passed=0
failed=0
client() {
  local name=$1
  shift
  echo "--- $name"
  # Each client bounds its own calls; this bounds a client that hangs anyway.
  if timeout 300 "$@"; then
    passed=$((passed + 1))
  else
    echo "client $name FAILED" >&2
    failed=$((failed + 1))
  fi
}
client "buf curl" bash "$dir/buf/run.sh" "$KILN_URL" "$fixture"
client connect-go "$dir/go/bin/connectclient" "$KILN_URL" "$fixture"
client grpc-go "$dir/go/bin/grpcclient" "$KILN_URL" "$fixture"
client connect-node node "$dir/node/client.js" "$KILN_URL" "$fixture"
client grpcio "$KILN_ROOT/.venv/bin/python" "$dir/python/client.py" "$KILN_URL" "$fixture"
echo "protocol clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
