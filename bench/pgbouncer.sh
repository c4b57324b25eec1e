#!/usr/bin/env bash
# Does the service work through PgBouncer in transaction mode? Starts a throwaway PostgreSQL,
# PgBouncer (from the distribution; installed with apt-get when missing and root) in front of it
# with pool_mode=transaction and fewer server connections than the service's pool, then one
# replica whose DATABASE_URL is PgBouncer's: the user flow (register, login, GET /, refresh,
# logout) and a load of GET / and logins at once, counting every answer that is not the
# contract's. Run with DATABASE_PREPARED_STATEMENTS=false in the environment to try the
# service without named prepared statements.
#   bench/pgbouncer.sh [SECONDS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source scripts/lib/service.sh
source bench/lib.sh
ensure_wrk
if ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
  [[ $(id -u) -eq 0 ]] || die "pgbouncer is missing (apt-get install pgbouncer)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

WORK=$(mktemp -d /tmp/auth-service-pgbouncer.XXXXXX)
SERVER_PIDS=()
cleanup() {
  local status=$?
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f "$WORK/pgbouncer.pid" ]] && kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null
  stop_throwaway_postgres
  if [[ -n "${KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT INT TERM

cargo build --release --locked --bin auth-service
start_throwaway_postgres
create_database auth
bouncer_port=$(free_port)
cat >"$WORK/pgbouncer.ini" <<INI
[databases]
auth = host=127.0.0.1 port=$PG_PORT dbname=auth user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $WORK/users.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
INI
echo '"postgres" ""' >"$WORK/users.txt"
chmod 644 "$WORK/pgbouncer.ini" "$WORK/users.txt"
chmod 777 "$WORK"
as_pg_user "$PGBOUNCER" -d "$WORK/pgbouncer.ini"
sleep 1
"$PGBOUNCER" --version | head -1

port=$(free_port)
start_service service "$WORK" "$port" \
  DATABASE_URL="postgres://postgres@127.0.0.1:$bouncer_port/auth" RATE_LIMIT_ENABLED=false
url="http://127.0.0.1:$port"
json() { curl -s -o /dev/null -w "%{http_code}" -H 'Content-Type: application/json' "$@"; }
echo "register $(json -d '{"name":"B","email":"hot@example.com","password":"correct horse battery staple"}' "$url/api/register")"
body=$(curl -s -H 'Content-Type: application/json' -d '{"email":"hot@example.com","password":"correct horse battery staple"}' "$url/api/login")
access=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$body")
refresh=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["refresh_token"])' "$body")
echo "GET / $(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $access" "$url/")"
echo "refresh $(json -d "{\"refresh_token\":\"$refresh\"}" "$url/api/token/refresh")"
echo "load: GET / (32 connections) and logins (4 connections) for ${1:-5} s at once"
timeout 60 wrk -t2 -c32 -d"${1:-5}s" --timeout 5s -H "Authorization: Bearer $access" "$url/" >"$WORK/get.txt" &
get=$!
timeout 60 wrk -t1 -c4 -d"${1:-5}s" --timeout 5s -s bench/login.lua "$url/api/login" >"$WORK/login.txt" 2>&1 || true
wait "$get" 2>/dev/null || true
for f in get login; do
  echo "$f: $(grep -E 'requests in' "$WORK/$f.txt" | xargs) $(grep -E 'Non-2xx' "$WORK/$f.txt" | xargs)"
done
echo "logout $(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $access" "$url/api/logout")"
echo "service log: $(grep -c . "$WORK/service.log") lines; first errors:"
{ grep -iE "error|prepared" "$WORK/service.log" || true; } | sed -e 's/request_id=.*//' -e 's/^\[[^]]*Z //' \
  | sort | uniq -c | sort -rn | head -5 || true
