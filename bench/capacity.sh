#!/usr/bin/env bash
# The capacity model's measurements (docs/SCALING.md): builds the release binary, starts a
# throwaway PostgreSQL with pg_stat_statements and fsync on (commits cost what they cost on this
# disk), and runs bench/capacity.py: each endpoint of the site's mix alone against one replica,
# its req/s, latency, CPU-seconds of the service and of PostgreSQL, and its statements, then
# what 1k, 10k and 100k requests per second of the mix need. Numbers are printed, never asserted.
#   bench/capacity.sh [SECONDS_PER_SCENARIO]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source bench/lib.sh
ensure_wrk

WORK=$(mktemp -d /tmp/auth-service-capacity.XXXXXX)
cleanup() {
  local status=$?
  stop_throwaway_postgres
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

log "building the release binary"
cargo build --release --locked --bin auth-service

PG_EXTRA_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on -c fsync=on" \
  start_throwaway_postgres
create_database capacity
python3 bench/capacity.py --binary "$PWD/target/release/auth-service" \
  --postgres-url "postgres://postgres@127.0.0.1:$PG_PORT/capacity" --seconds "${1:-10}"
