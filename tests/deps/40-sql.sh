#!/usr/bin/env bash
# tests/suites/40-sql.sh reads Arrow IPC results with pyarrow, which
# tests/deps/00-python.sh installs into .venv; fail clearly if it is missing.
set -euo pipefail
.venv/bin/python -c "import pyarrow.ipc, pyarrow; print('pyarrow', pyarrow.__version__, 'for the SQL suite')" || {
  echo "tests/deps/40-sql.sh: pyarrow is missing from .venv (tests/deps/00-python.sh installs it)" >&2
  exit 1
}
