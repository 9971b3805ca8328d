#!/usr/bin/env bash
# Real profiling agents for tests/suites/20-agents.sh and 21-leak.sh:
#   * pyroscope-io from PyPI, newest 1.x and 0.8.16, in two venvs under
#     tests/agents/python/ (they cannot share one: same package name);
#   * @pyroscope/nodejs from npm into tests/agents/node/node_modules;
#   * pyroscope-go (and grpc-go for the leak service) into the Go module cache;
#   * the `pyroscope` crate's sources for the Rust agent (cargo fetch).
# Run from the repository root by scripts/install-test-deps; idempotent and
# fast when everything is there. A missing toolchain fails the run.
set -euo pipefail
agents=tests/agents

for tool in go node npm python3 cargo; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required by the agent suites" >&2; exit 1; }
done

# Python: one venv per agent generation; pip's wheel cache makes re-creation cheap.
install_venv() {
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import pyroscope" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  fi
  echo "$venv: pyroscope-io $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pyroscope-io"))')"
}
install_venv "$agents/python/.venv-1x" "$agents/python/requirements-1x.txt"
install_venv "$agents/python/.venv-0.8" "$agents/python/requirements-0.8.txt"

# Node.js: exactly the locked versions (npm's own cache in ~/.npm).
if [ ! -d "$agents/node/node_modules/@pyroscope/nodejs" ] \
  || [ "$agents/node/package-lock.json" -nt "$agents/node/node_modules/.package-lock.json" ]; then
  (cd "$agents/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "@pyroscope/nodejs $(node -p "require('./$agents/node/node_modules/@pyroscope/nodejs/package.json').version")"

# Go: modules of both programs into the default module cache.
for dir in go leak; do
  (cd "$agents/$dir" && go mod download)
done
echo "pyroscope-go $(cd "$agents/go" && go list -m -f '{{.Version}}' github.com/grafana/pyroscope-go)"

# Rust: sources of the locked `pyroscope` crate (built by the suite).
cargo fetch --quiet --locked --manifest-path "$agents/rust/Cargo.toml"
echo "pyroscope (crate) $(cargo metadata --format-version 1 --locked --manifest-path "$agents/rust/Cargo.toml" \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "pyroscope"))')"
