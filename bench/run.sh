#!/usr/bin/env bash
# The benchmark suite: builds the release binary, starts a throwaway PostgreSQL, runs every
# scenario of bench/bench.py against SQLite and PostgreSQL with wrk (installed with apt-get
# when missing), prints a table per backend with each target ✓ or ✗, then the criterion
# micro-benchmarks. Nothing here is a test: numbers are printed, never asserted.
#   bench/run.sh [SECONDS_PER_SCENARIO]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

source bench/lib.sh
ensure_wrk

WORK=$(mktemp -d /tmp/auth-service-bench.XXXXXX)
cleanup() {
  local status=$?
  stop_throwaway_postgres
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

log "building the release binary and the bcrypt timing example"
cargo build --release --locked --bin auth-service --example bcrypt_verify_time

start_throwaway_postgres
create_database bench
python3 bench/bench.py --binary "$PWD/target/release/auth-service" \
  --postgres-url "postgres://postgres@127.0.0.1:$PG_PORT/bench" --seconds "${1:-10}"

log "micro-benchmarks (criterion)"
cargo bench --locked --bench micro -- --warm-up-time 1 --measurement-time 3
