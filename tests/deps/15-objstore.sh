#!/usr/bin/env bash
# Object-store emulators for the conformance suites (crates/kiln-store,
# crates/kiln-meta) and the e2e tests against S3 and Azure: moto's S3 server
# and gcp-storage-emulator in the repo's .venv, Azurite (Azure Blob) in
# tests/objstore/node_modules. The tests start them on loopback themselves.
# Run by scripts/install-test-deps from the repo root; idempotent.
set -euo pipefail

[ -x .venv/bin/python ] || bash tests/deps/00-python.sh

if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/gcp-storage-emulator ]; then
  echo "pip install -r tests/objstore/requirements.txt"
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/objstore/requirements.txt
fi

if ! command -v npm >/dev/null; then
  echo "apt-get install nodejs npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x tests/objstore/node_modules/.bin/azurite-blob ]; then
  echo "npm ci (tests/objstore: azurite)"
  (cd tests/objstore && npm ci --no-audit --no-fund --loglevel=error)
fi

.venv/bin/python -c "import moto; print('moto', moto.__version__)"
.venv/bin/gcp-storage-emulator --help >/dev/null && echo "gcp-storage-emulator ok"
echo "azurite-blob $(tests/objstore/node_modules/.bin/azurite-blob --version)"
