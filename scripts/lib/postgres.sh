# A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, trust auth on
# 127.0.0.1 and a free port, fsync off, removed on exit. Exports TABHOOKS_TEST_POSTGRES_URL.
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.

_pg_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

_as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_throwaway_postgres() {
  if [ -n "${TABHOOKS_TEST_POSTGRES_URL:-}" ]; then
    echo "postgres: using TABHOOKS_TEST_POSTGRES_URL from the environment"
    return
  fi
  local bin
  bin=$(_pg_bin_dir || true)
  if [ -z "$bin" ]; then
    echo "postgres: no PostgreSQL binaries found; PostgreSQL tests will be skipped"
    return
  fi
  PG_TMP=$(mktemp -d /tmp/tabhooks-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_TMP"
  local port
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  _as_pg_owner "$bin/initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log"; return 1; }
  # The superuser connects without a password; every other role needs its password, so tests
  # can make a connection fail with a wrong one (as a refresh with bad credentials does).
  cat >"$PG_TMP/data/pg_hba.conf" <<'HBA'
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
host all postgres ::1/128 trust
host all all ::1/128 scram-sha-256
HBA
  _as_pg_owner "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null || { cat "$PG_TMP/server.log"; return 1; }
  PG_BIN_DIR=$bin
  trap stop_throwaway_postgres EXIT
  export TABHOOKS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "postgres: throwaway cluster on 127.0.0.1:$port ($("$bin/postgres" --version))"
}

stop_throwaway_postgres() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP" ]; then
    _as_pg_owner "$PG_BIN_DIR/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
