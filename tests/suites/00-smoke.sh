#!/usr/bin/env bash
# Smoke test of the suite harness itself: a server starts, is ready, accepts a
# folded-text push on /ingest and lists the pushed service.
set -euo pipefail
source "$KILN_ROOT/tests/suites/lib.sh"

start_kiln smoke
now=$(date +%s)
curl -fsS -X POST --data-binary $'main;work;leaf 10\nmain;idle 5\n' \
  "$KILN_URL/ingest?name=smoke.app.cpu%7Benv%3Dci%7D&from=$now&until=$now&format=folded&sampleRate=100" >/dev/null
# The ack is durable, but the label APIs may read through caches: poll briefly.
for _ in $(seq 1 50); do
  out=$(curl -fsS -H 'Content-Type: application/json' -d "{\"name\":\"service_name\",\"start\":$(((now - 3600) * 1000)),\"end\":$(((now + 60) * 1000))}" \
    "$KILN_URL/querier.v1.QuerierService/LabelValues")
  if grep -q '"smoke.app"' <<<"$out"; then
    echo "smoke: 1 passed"
    exit 0
  fi
  sleep 0.1
done
echo "smoke: service smoke.app not listed by LabelValues: $out" >&2
exit 1
