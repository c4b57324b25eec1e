# A throwaway PostgreSQL cluster for the test and bench scripts (sourced, not run): initdb into
# a temporary folder with trust auth on 127.0.0.1 and a free port. When its binaries are missing
# it says how to get them and fails (scripts/test installs them first, scripts/lib/setup.sh).
# Callers set WORK (a temporary folder) and call stop_throwaway_postgres on exit; PG_EXTRA_OPTIONS
# adds server settings (-c name=value ...).

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

find_pg_bin() {
  local dir
  for dir in "${PG_BIN:-}" /usr/lib/postgresql/*/bin; do
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# initdb refuses to run as root: run the cluster as the postgres system user then.
as_pg_user() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Sets PG_BIN, PG_PORT, PGDATA_DIR and PG_URL (the postgres database, as superuser).
start_throwaway_postgres() {
  PG_BIN=$(find_pg_bin || true)
  [[ -n "$PG_BIN" ]] || die "PostgreSQL server binaries (initdb, pg_ctl) not found: install them
  (Debian/Ubuntu: apt-get install postgresql; or set PG_BIN to their folder)"

  log "starting a throwaway PostgreSQL from $PG_BIN"
  PGDATA_DIR="$WORK/pgdata"
  chmod 755 "$WORK"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$WORK"
  fi
  as_pg_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --no-sync -E UTF8 >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  PG_PORT=$(free_port)
  as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK -c fsync=off -c max_connections=300 ${PG_EXTRA_OPTIONS:-}" >/dev/null \
    || { cat "$WORK/postgres.log" >&2; die "PostgreSQL did not start"; }
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

create_database() {
  as_pg_user "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $1" postgres
}

stop_throwaway_postgres() {
  if [[ -n "${PGDATA_DIR:-}" && -f "$PGDATA_DIR/postmaster.pid" ]]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
  fi
}
