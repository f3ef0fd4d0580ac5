#!/usr/bin/env bash
# Run Lumina's whole test suite: installs what the tests need, starts PostgreSQL, runs pytest.
set -euo pipefail
cd "$(dirname "$0")"
./install.sh --test
# A real PostgreSQL server for the store tests (Debian's cluster; started if it is not running).
if command -v pg_lsclusters >/dev/null; then
  ver=$(pg_lsclusters -h | awk 'NR==1{print $1}')
  pg_lsclusters -h | grep -q online || pg_ctlcluster "$ver" main start
  su postgres -c "psql -qtAc \"ALTER USER postgres PASSWORD 'lumina'\"" >/dev/null
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='lumina_test'\"" | grep -q 1 \
    || su postgres -c "createdb lumina_test"
  export LUMINA_TEST_POSTGRES=${LUMINA_TEST_POSTGRES:-postgresql://postgres:lumina@127.0.0.1:5432/lumina_test}
fi
export CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
exec .venv/bin/python -m pytest -q "$@"
