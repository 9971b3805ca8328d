#!/usr/bin/env bash
# The seed scenario: a Go service leaking one gRPC client connection per
# request (tests/agents/leak), profiled by the real pyroscope-go with a 1 s
# upload period, pushes to Kiln for $LEAK_SECONDS (default 45) seconds; the
# same service with the fix (-fixed) runs beside it. diagnose.py then compares
# the first and last 10 s through Diff, SelectMergeProfile and SelectSeries:
# the gRPC share of inuse_space must grow by ≥ 10 points for the leaky
# service and by ≤ 5 points for the fixed one.
set -euo pipefail
source "$KILN_ROOT/tests/suites/lib.sh"
leak="$KILN_ROOT/tests/agents/leak"
seconds=${LEAK_SECONDS:-45}

(cd "$leak" && go build -o "$SUITE_TMP/leaky-service" .)
start_kiln leak
start=$(date +%s)
KILN_URL=$KILN_URL "$SUITE_TMP/leaky-service" -service kiln.leak.leaky -duration "${seconds}s" &
leaky=$!
KILN_URL=$KILN_URL "$SUITE_TMP/leaky-service" -service kiln.leak.fixed -fixed -duration "${seconds}s" &
fixed=$!
wait "$leaky"
wait "$fixed"
end=$(date +%s)

passed=0
failed=0
for case in "kiln.leak.leaky growth" "kiln.leak.fixed flat"; do
  set -- $case
  if python3 "$leak/diagnose.py" --url "$KILN_URL" --service "$1" --start "$start" --end "$end" --expect "$2"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "leak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
