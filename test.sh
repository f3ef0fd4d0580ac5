#!/usr/bin/env bash
# Run Lumina's whole test suite: installs what the tests need, runs pytest against a throwaway
# PostgreSQL cluster of its own (initdb in a temp dir, a free port on 127.0.0.1, a random
# password), which is stopped and removed on exit. The machine's own PostgreSQL server, its
# clusters and its passwords are never touched. Set LUMINA_TEST_POSTGRES to use another server.
set -euo pipefail
cd "$(dirname "$0")"
./install.sh --test

PGTMP=""
PGBIN=""
stop_postgres() {
  if [ -n "$PGTMP" ] && [ -d "$PGTMP" ]; then
    if [ -f "$PGTMP/data/postmaster.pid" ]; then
      as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP"
    echo "test.sh: stopped and removed the throwaway PostgreSQL cluster"
  fi
}
trap stop_postgres EXIT
trap 'exit 130' INT TERM
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` system user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${LUMINA_TEST_POSTGRES:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v initdb || echo /nonexistent/initdb)")
  if [ ! -x "$PGBIN/initdb" ]; then
    echo "test.sh: PostgreSQL's initdb was not found (install.sh --test installs it);" \
      "the PostgreSQL store tests will fail. Or set LUMINA_TEST_POSTGRES." >&2
  else
    PGTMP=$(mktemp -d /tmp/lumina-test-pg.XXXXXX)
    chmod 0700 "$PGTMP"
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    password=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(16))')
    printf '%s\n' "$password" >"$PGTMP/pwfile"
    chmod 0600 "$PGTMP/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres "$PGTMP"
    as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U lumina --pwfile="$PGTMP/pwfile" \
      --auth=scram-sha-256 -E UTF8 --no-instructions >"$PGTMP/initdb.log" 2>&1 \
      || { cat "$PGTMP/initdb.log" >&2; exit 1; }
    rm -f "$PGTMP/pwfile"
    as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PGTMP -c fsync=off" start >/dev/null \
      || { cat "$PGTMP/server.log" >&2; exit 1; }
    PGPASSWORD=$password "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U lumina lumina_test
    export LUMINA_TEST_POSTGRES="postgresql://lumina:$password@127.0.0.1:$port/lumina_test"
    echo "test.sh: throwaway PostgreSQL cluster on 127.0.0.1:$port in $PGTMP (removed on exit)"
  fi
fi
export CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
rc=0
.venv/bin/python -m pytest -q "$@" || rc=$?
exit "$rc"
