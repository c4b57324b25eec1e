#!/usr/bin/env bash
# CPU-seconds and peak memory per hostile upload (bench/hostile_uploads.py) for the binary of a
# baseline revision and this working tree's, case by case.
#   bench/hostile_uploads.sh BASELINE_REV
# BASELINE_TARGET_DIR reuses a cargo target folder for the baseline build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source bench/lib.sh
[[ $# -ge 1 ]] || die "usage: bench/hostile_uploads.sh BASELINE_REV"

WORK=$(mktemp -d /tmp/auth-service-hostile.XXXXXX)
cleanup() {
  local status=$?
  git worktree remove --force "$WORK/baseline" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

baseline=$(build_baseline "$1" "$WORK")
log "building the candidate (this working tree) and the pictures"
cargo build --release --locked --bin auth-service --example hostile_images
target/release/examples/hostile_images "$WORK/pictures"
ls -l "$WORK/pictures"
python3 bench/hostile_uploads.py --binary "before=$baseline" \
  --binary "after=$PWD/target/release/auth-service" --pictures "$WORK/pictures"
