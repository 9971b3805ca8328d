#!/usr/bin/env bash
# The web UI in real Chromium (tests/ui): a server holding known folded
# stacks in two time ranges (the second with known growth), then every view
# driven through the browser by tests/ui/ui.test.mjs. Screenshots under
# docs/images/ are refreshed only with KILN_UI_SCREENSHOTS=1.
set -euo pipefail
source "$KILN_ROOT/tests/suites/lib.sh"

start_kiln ui
now=$(date +%s)
# Baseline pushes at now-50m, -48m, -46m; comparison at now-20m, -18m, -16m.
UI_LEFT_FROM=$((now - 3000))
UI_RIGHT_FROM=$((now - 1200))

push() { # name-with-labels from body [extra params]
  curl -fsS -X POST --data-binary "$3" \
    "$KILN_URL/ingest?name=$1&from=$2&until=$(($2 + 10))&format=folded${4:-&sampleRate=100}" >/dev/null
}

baseline_eu=$'main;handler;parse 100\nmain;handler;render 100\nmain;handler;render;json.Marshal 20\nmain;gc 50\nmain;worker;json.Marshal 10\n'
growth_eu=$'main;handler;parse 100\nmain;handler;render 300\nmain;handler;render;json.Marshal 20\nmain;handler;render;cache.Fill 60\nmain;gc 50\nmain;worker;json.Marshal 10\n'
us=$'main;handler;parse 50\n'
for k in 0 1 2; do
  t=$((UI_LEFT_FROM + k * 120))
  push 'shop.api.cpu%7Benv%3Dprod%2Cregion%3Deu%7D' "$t" "$baseline_eu"
  push 'shop.api.cpu%7Benv%3Dprod%2Cregion%3Dus%7D' "$t" "$us"
  t=$((UI_RIGHT_FROM + k * 120))
  push 'shop.api.cpu%7Benv%3Dprod%2Cregion%3Deu%7D' "$t" "$growth_eu"
  push 'shop.api.cpu%7Benv%3Dprod%2Cregion%3Dus%7D' "$t" "$us"
done
push 'shop.api.alloc_space%7Benv%3Dprod%2Cregion%3Deu%7D' "$UI_RIGHT_FROM" $'main;cache.Fill 4096\n' '&units=bytes&aggregationType=sum'
push 'shop.worker.cpu%7Benv%3Dprod%7D' "$UI_RIGHT_FROM" $'main;loop 10\n'
# A gauge: two in-use snapshots at one instant; the timeline must average them.
for bytes in 100 300; do
  push 'shop.api.inuse_space%7Benv%3Dprod%2Cregion%3Deu%7D' "$UI_RIGHT_FROM" "main;cache.Fill $bytes" '&units=bytes&aggregationType=average'
done

# The ack is durable, but the label APIs may read through caches: poll briefly.
for _ in $(seq 1 50); do
  out=$(curl -fsS -H 'Content-Type: application/json' -d "{\"name\":\"service_name\",\"start\":$(((now - 3600) * 1000)),\"end\":$(((now + 60) * 1000))}" \
    "$KILN_URL/querier.v1.QuerierService/LabelValues")
  grep -q '"shop.worker"' <<<"$out" && break
  sleep 0.1
done

# A second server with multi-tenancy on: the UI must ask for the tenant.
UI_URL=$KILN_URL
start_kiln ui-tenants KILN_AUTH__MULTITENANCY_ENABLED=true
curl -fsS -X POST -H 'X-Scope-OrgID: acme' --data-binary $'main;tenant.Work 10\n' \
  "$KILN_URL/ingest?name=acme.app.cpu%7Benv%3Dprod%7D&from=$UI_RIGHT_FROM&until=$((UI_RIGHT_FROM + 10))&format=folded&sampleRate=100" >/dev/null
export KILN_MT_URL=$KILN_URL
KILN_URL=$UI_URL

export KILN_URL UI_NOW=$((now * 1000)) UI_LEFT_FROM=$((UI_LEFT_FROM * 1000)) UI_RIGHT_FROM=$((UI_RIGHT_FROM * 1000))
cd "$KILN_ROOT/tests/ui"
node --test --test-concurrency=1 ui.test.mjs
