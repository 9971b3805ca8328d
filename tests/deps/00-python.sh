#!/usr/bin/env bash
# Python tools the cargo tests use: pyarrow reads our Parquet blocks as a
# third party would. Sourced by scripts/install-test-deps from the repo root.
set -euo pipefail
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import pyarrow" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
.venv/bin/python -c "import pyarrow; print('pyarrow', pyarrow.__version__)"
