#!/usr/bin/env bash
# PostgreSQL's server binaries (Debian's `postgresql` package) for the
# PostgreSQL metastore's tests (crates/kiln-meta-postgres, tests/e2e
# postgres_metastore). The tests run initdb + postgres themselves on a free
# loopback port in a temp dir (as the `postgres` system user when run as
# root); no system cluster is started here.
# Run by scripts/install-test-deps from the repo root; idempotent.
set -euo pipefail

have_server() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! have_server; then
  echo "apt-get install postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# The package creates the `postgres` user that runs the test servers under root.
id postgres >/dev/null
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$bin/postgres" --version
