#!/usr/bin/env bash
# `buf curl` against Kiln with Kiln's own schema, in every protocol buf
# speaks: Connect (HTTP/1.1 and h2c), gRPC (h2c) and gRPC-Web. Each run
# builds the fixture's pprof with `buf convert` (protojson → binary
# google.v1.Profile), pushes it under its own service name and checks every
# querier RPC Grafana uses against fixture.json's expected answers.
#
# Usage: run.sh KILN_URL FIXTURE_JSON   (needs ../node_modules/.bin/buf, jq)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=$1
fixture=$2
buf="$here/../node_modules/.bin/buf"
proto="$here/../../../proto"
[ -x "$buf" ] || { echo "buf is not installed at $buf (run tests/deps/25-protocols.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is not installed (run tests/deps/25-protocols.sh)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One compiled image of our protos serves every call (compiling per call is slower).
"$buf" build "$proto" -o "$work/schema.binpb" \
  --path "$proto/push" --path "$proto/querier" --path "$proto/types" --path "$proto/google"
version=$("$buf" --version)

passed=0
failed=0
jqf() { jq -L "$here" "$@"; }

# check LABEL WHAT GOT WANT: compares two JSON values.
check() {
  if [ "$(jq -cS . <<<"$3")" = "$(jq -cS . <<<"$4")" ]; then
    echo "ok   $1 $2"
    passed=$((passed + 1))
  else
    echo "FAIL $1 $2: got $(jq -c . <<<"$3"), want $(jq -c . <<<"$4")" >&2
    failed=$((failed + 1))
  fi
}

# run LABEL BUF_CURL_FLAGS...
run() {
  local label=$1
  shift
  local service="protocols-buf-$label"
  local call=("$buf" curl --schema "$work/schema.binpb" "$@")
  local now_ms now_ns start end selector
  now_ns=$(date +%s%N)
  now_ms=$((now_ns / 1000000))
  start=$((now_ms - 3600000))
  end=$((now_ms + 60000))
  selector="{service_name=\"$service\"}"

  local push='{"series":[]}'
  for variant in before after; do
    jqf --arg v "$variant" --argjson now "$now_ns" 'include "lib"; .profile | profile($v; $now)' "$fixture" >"$work/profile.json"
    "$buf" convert "$work/schema.binpb" --type google.v1.Profile \
      --from "$work/profile.json#format=json" --to "$work/profile.binpb#format=binpb"
    push=$(jq -c --arg name "$(jq -r .profile.name "$fixture")" --arg svc "$service" --arg v "$variant" \
      --arg raw "$(base64 -w0 "$work/profile.binpb")" \
      '.series += [{labels: [{name: "__name__", value: $name}, {name: "service_name", value: $svc},
                             {name: "variant", value: $v}],
                    samples: [{rawProfile: $raw}]}]' <<<"$push")
  done
  check "buf/$label" "Push reply" "$("${call[@]}" -d "$push" "$url/push.v1.PusherService/Push")" '{}'

  # Pushes are durable when acknowledged, but label reads may go through
  # caches: wait (bounded) until the service is listed.
  local listed=false
  for _ in $(seq 1 150); do
    if "${call[@]}" -d "{\"name\":\"service_name\",\"start\":$start,\"end\":$end}" \
      "$url/querier.v1.QuerierService/LabelValues" | jq -e --arg s "$service" '.names | index($s)' >/dev/null; then
      listed=true
      break
    fi
    sleep 0.1
  done
  check "buf/$label" "LabelValues(service_name) lists the service" "$listed" true

  local q="$url/querier.v1.QuerierService" got want
  got=$("${call[@]}" -d "{\"start\":$start,\"end\":$end}" "$q/ProfileTypes" |
    jq '[.profileTypes[] | {ID, name, sample_type: .sampleType, sample_unit: .sampleUnit,
                            period_type: .periodType, period_unit: .periodUnit}]')
  check "buf/$label" ProfileTypes "$got" "$(jq .expected.profile_types "$fixture")"

  local matchers
  matchers=$(jq -cn --arg s "$selector" '[$s]')
  got=$("${call[@]}" -d "{\"matchers\":$matchers,\"start\":$start,\"end\":$end}" "$q/LabelNames" | jq .names)
  check "buf/$label" LabelNames "$got" "$(jq .expected.label_names "$fixture")"

  got=$("${call[@]}" -d "{\"name\":\"variant\",\"matchers\":$matchers,\"start\":$start,\"end\":$end}" "$q/LabelValues" | jq .names)
  check "buf/$label" "LabelValues(variant)" "$got" "$(jq .expected.variant_values "$fixture")"

  local type
  type=$(jq -r .expected.query_profile_type "$fixture")
  got=$("${call[@]}" -d "$(jq -cn --arg t "$type" --arg s "$selector" --argjson a "$start" --argjson b "$end" \
    '{profileTypeID: $t, labelSelector: $s, start: $a, end: $b, step: 60, groupBy: ["variant"]}')" "$q/SelectSeries" |
    jq '[.series[] | {key: ((.labels // [])[] | select(.name == "variant") | .value),
                      value: [.points[] | .value // 0 | select(. != 0)]}] | from_entries')
  check "buf/$label" "SelectSeries by variant" "$got" "$(jq '.expected.series_by_variant | map_values([.])' "$fixture")"

  got=$("${call[@]}" -d "$(jq -cn --arg t "$type" --arg s "$selector" --argjson a "$start" --argjson b "$end" \
    '{profileTypeID: $t, labelSelector: $s, start: $a, end: $b}')" "$q/SelectMergeStacktraces" |
    jqf 'include "lib"; .flamegraph | {total: (.total | tonumber), max_self: (.maxSelf | tonumber), nodes: decode(4)}')
  check "buf/$label" "SelectMergeStacktraces (total, max_self, nodes)" "$got" "$(jq .expected.flamegraph "$fixture")"

  got=$("${call[@]}" -d "$(jq -cn --arg t "$type" --arg s "$selector" --argjson a "$start" --argjson b "$end" \
    '{profileTypeID: $t, labelSelector: $s, start: $a, end: $b}')" "$q/SelectMergeProfile" | jqf 'include "lib"; summarize')
  check "buf/$label" "SelectMergeProfile pprof" "$got" "$(jq .expected.merge_profile "$fixture")"

  got=$("${call[@]}" -d "$(jq -cn --arg t "$type" --arg svc "$service" --argjson a "$start" --argjson b "$end" \
    'def side($v): {profileTypeID: $t, labelSelector: "{service_name=\"\($svc)\",variant=\"\($v)\"}", start: $a, end: $b};
     {left: side("before"), right: side("after")}')" "$q/Diff" |
    jqf 'include "lib"; .flamegraph | {left_ticks: (.leftTicks | tonumber), right_ticks: (.rightTicks | tonumber),
                                        total: (.total | tonumber), max_self: (.maxSelf | tonumber), nodes: decode(7)}')
  check "buf/$label" "Diff (ticks, total, max_self, nodes)" "$got" "$(jq .expected.diff "$fixture")"

  # A wrong request must come back as a status the client understands.
  local code=ok
  if ! "${call[@]}" -d "$(jq -cn --arg s "$selector" '{profileTypeID: "not-a-type", labelSelector: $s}')" \
    "$q/SelectMergeStacktraces" >"$work/out" 2>"$work/err"; then
    code=$(jq -r .code "$work/err")
  fi
  check "buf/$label" "bad profile type is invalid_argument" "\"$code\"" '"invalid_argument"'
}

run connect-http1 --protocol connect
run connect-h2c --protocol connect --http2-prior-knowledge
run grpc --protocol grpc --http2-prior-knowledge
run grpc-web --protocol grpcweb
echo "buf curl $version: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
