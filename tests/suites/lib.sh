# Shared helpers for tests/suites/*.sh: `source "$KILN_ROOT/tests/suites/lib.sh"`.
#
#   start_kiln NAME [KEY=VALUE ...] [-- extra server flags]
#       starts `$KILN_BIN server` on a free loopback port with a fresh data
#       directory; KEY=VALUE pairs become environment variables of the server
#       (e.g. KILN_AUTH__MULTITENANCY_ENABLED=true). Sets KILN_URL
#       (http://127.0.0.1:PORT), KILN_PORT and KILN_DATA, waits for /ready and
#       stops the server when the suite exits. Its log is $KILN_DATA/../NAME.log,
#       printed if the suite fails.
#   free_port      prints a free loopback port.

: "${KILN_BIN:?KILN_BIN must point at the kiln binary (scripts/test sets it)}"
: "${KILN_ROOT:?KILN_ROOT must be the repository root}"
: "${KILN_SHARED:=$KILN_ROOT/../shared}"

SUITE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kiln-suite.XXXXXX")
_kiln_pids=()
_kiln_logs=()

_suite_cleanup() {
  local status=$?
  for pid in "${_kiln_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    for log in "${_kiln_logs[@]}"; do
      echo "----- $log (last 60 lines)" >&2
      tail -n 60 "$log" >&2 || true
    done
  fi
  rm -rf "$SUITE_TMP"
  exit "$status"
}
trap _suite_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_kiln() {
  local name=$1
  shift
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    envs+=("$1")
    shift
  done
  [ "${1:-}" = "--" ] && shift
  KILN_PORT=$(free_port)
  KILN_DATA="$SUITE_TMP/$name-data"
  KILN_URL="http://127.0.0.1:$KILN_PORT"
  local log="$SUITE_TMP/$name.log"
  mkdir -p "$KILN_DATA"
  # Hermetic: the developer's own KILN_* settings must not leak in.
  env $(env | grep -o '^KILN_[A-Z0-9_]*' | grep -v -e '^KILN_BIN$' -e '^KILN_ROOT$' -e '^KILN_SHARED$' | sed 's/^/-u /') \
    RUST_LOG="${RUST_LOG:-info}" "${envs[@]}" \
    "$KILN_BIN" server --listen "127.0.0.1:$KILN_PORT" --data-dir "$KILN_DATA" "$@" >"$log" 2>&1 &
  _kiln_pids+=($!)
  _kiln_logs+=("$log")
  for _ in $(seq 1 200); do
    if curl -fsS "$KILN_URL/ready" >/dev/null 2>&1; then
      export KILN_URL KILN_PORT KILN_DATA
      return 0
    fi
    sleep 0.1
  done
  echo "kiln server '$name' did not become ready on $KILN_URL" >&2
  return 1
}
