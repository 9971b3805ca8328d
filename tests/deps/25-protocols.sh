#!/usr/bin/env bash
# Protocol clients of tests/suites/25-protocols.sh (see tests/protocols/README.md):
#   - npm (tests/protocols/node_modules): the buf CLI (curl, convert,
#     generate; its own compiler, so no protoc), protoc-gen-es and the
#     Connect-ES runtime, pinned by tests/protocols/package-lock.json;
#   - go install into tests/protocols/go/bin: protoc-gen-go,
#     protoc-gen-go-grpc and protoc-gen-connect-go, pinned by the `tool`
#     lines of tests/protocols/go/go.mod (modules in the default Go caches);
#   - pip (the repo .venv): grpcio and grpcio-tools;
#   - jq (apt) for the buf client's checks;
# then generates every client's code from proto/ and builds the Go clients.
# Run from the repo root by scripts/install-test-deps; idempotent and quick
# once installed.
set -euo pipefail
dir=tests/protocols

for tool in go node npm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (needed by the protocol clients)" >&2; exit 1; }
done
if ! command -v jq >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi

# npm: reinstall only when the lock file changed since the last install.
lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ ! -x "$dir/node_modules/.bin/buf" ] || [ "$(cat "$dir/node_modules/.kiln-lock" 2>/dev/null)" != "$lock_sum" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$dir/node_modules/.kiln-lock"
fi

# Go plugins: `go install tool` is a cache hit once built.
(cd "$dir/go" && GOBIN="$PWD/bin" go install tool)

# Python: grpcio + grpcio-tools at the pinned versions.
[ -x .venv/bin/python ] || { echo "error: .venv is missing (tests/deps/00-python.sh creates it)" >&2; exit 1; }
if ! .venv/bin/python - "$dir/python/requirements.txt" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        assert version(name) == want, (name, version(name), want)
PY
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$dir/python/requirements.txt"
fi

bash "$dir/generate.sh"
# Build the Go clients now so that the suite needs no module downloads.
(cd "$dir/go" && go build -o bin/ ./cmd/...)
echo "protocol clients: buf $("$dir/node_modules/.bin/buf" --version), connect-node, connect-go, grpc-go, grpcio ready"
