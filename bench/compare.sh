#!/usr/bin/env bash
# What a change costs: req/s of `GET /` (scenario `me`, the default) or `POST /api/login`
# (`login`) for the binary of a baseline revision against this working tree's, on SQLite and
# PostgreSQL, runs alternating in one session (bench/compare.py). Numbers are printed, never
# asserted.
#   bench/compare.sh BASELINE_REV [SECONDS_PER_RUN] [ROUNDS] [me|login]
# BASELINE_TARGET_DIR reuses a cargo target folder for the baseline build (it is a full release
# build otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
[[ $# -ge 1 ]] || die "usage: bench/compare.sh BASELINE_REV [SECONDS_PER_RUN] [ROUNDS] [me|login]"

source bench/lib.sh
ensure_wrk

WORK=$(mktemp -d /tmp/auth-service-compare.XXXXXX)
cleanup() {
  local status=$?
  stop_throwaway_postgres
  git worktree remove --force "$WORK/baseline" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

baseline=$(build_baseline "$1" "$WORK")
log "building the candidate (this working tree)"
cargo build --release --locked --bin auth-service

start_throwaway_postgres
create_database bench_baseline
create_database bench_candidate
python3 bench/compare.py --baseline "$baseline" \
  --candidate "$PWD/target/release/auth-service" \
  --postgres-baseline-url "postgres://postgres@127.0.0.1:$PG_PORT/bench_baseline" \
  --postgres-candidate-url "postgres://postgres@127.0.0.1:$PG_PORT/bench_candidate" \
  --seconds "${2:-8}" --rounds "${3:-3}" --scenario "${4:-me}"
