#!/usr/bin/env bash
# tests/suites/40-sql.sh reads Arrow IPC results with pyarrow (installed into
# .venv by tests/deps/00-python.sh) and queries Flight SQL with ADBC's Flight
# SQL driver (installed here, pinned) and pyarrow.flight; DuckDB for the
# benchmark check.
set -euo pipefail
.venv/bin/python -c "import pyarrow.ipc, pyarrow.flight, pyarrow; print('pyarrow', pyarrow.__version__, 'for the SQL suite')" || {
  echo "tests/deps/40-sql.sh: pyarrow (with Flight) is missing from .venv (tests/deps/00-python.sh installs it)" >&2
  exit 1
}
if ! .venv/bin/python -c "import adbc_driver_flightsql.dbapi" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check \
    adbc-driver-flightsql==1.13.0 adbc-driver-manager==1.13.0
fi
.venv/bin/python -c "import adbc_driver_flightsql as f; print('adbc-driver-flightsql', f.__version__)"
# DuckDB: the SQL benchmark's other engine (benches/sql-vs-duckdb.sh), whose
# answer the suite checks against Kiln's on a small dataset.
if ! .venv/bin/python -c "import duckdb" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check duckdb==2.0.0
fi
.venv/bin/python -c "import duckdb; print('duckdb', duckdb.__version__)"
