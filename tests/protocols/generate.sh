#!/usr/bin/env bash
# Generates every protocol client's code from Kiln's own protos (proto/
# push, querier, types, google): Go messages, grpc-go and connect-go stubs
# and JavaScript messages/services through `buf generate` with local
# plugins, Python messages and grpcio stubs through grpc_tools.protoc.
# Output goes to tests/protocols/{go,node,python}/gen (gitignored). Skips
# the work when neither the protos nor the generators changed since the last
# run (recorded in tests/protocols/.stamp), so the suite can call it cheaply
# and never tests code generated from stale protos.
#
# Needs what tests/deps/25-protocols.sh installs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
buf="$here/node_modules/.bin/buf"
python="$root/.venv/bin/python"
packages=(push querier types google)

fingerprint() {
  (
    cd "$root/proto" && find "${packages[@]}" -name '*.proto' -print0 | sort -z | xargs -0 sha256sum
    cd "$here" && sha256sum generate.sh package-lock.json go/go.mod go/go.sum go/buf.gen.yaml \
      node/buf.gen.yaml python/generate.py python/requirements.txt
    ls "$here/go/gen" "$here/node/gen" "$here/python/gen" 2>&1 || true
  ) | sha256sum | cut -d' ' -f1
}

now=$(fingerprint)
if [ -f "$here/.stamp" ] && [ "$(cat "$here/.stamp")" = "$now" ]; then
  exit 0
fi
paths=()
for p in "${packages[@]}"; do paths+=(--path "$root/proto/$p"); done
rm -rf "$here/go/gen" "$here/node/gen"
(cd "$here/go" && "$buf" generate "$root/proto" --template buf.gen.yaml "${paths[@]}")
(cd "$here/node" && "$buf" generate "$root/proto" --template buf.gen.yaml "${paths[@]}")
"$python" "$here/python/generate.py" "$root/proto"
fingerprint >"$here/.stamp"
echo "generated protocol clients' code from proto/"
