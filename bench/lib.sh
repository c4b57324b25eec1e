# Shared by bench/run.sh, bench/compare.sh and bench/hostile_uploads.sh (sourced after scripts/lib/postgres.sh).

# wrk drives every scenario; it is installed with apt-get when missing and running as root.
ensure_wrk() {
  command -v wrk >/dev/null && return
  [[ $(id -u) -eq 0 ]] || die "wrk is missing (apt-get install wrk)"
  log "installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

# Builds the release binary of revision $1 in a worktree under $2 (BASELINE_TARGET_DIR reuses a
# cargo target folder) and prints its path. The caller removes the worktree "$2/baseline".
build_baseline() {
  local rev target
  rev=$(git rev-parse --verify "$1^{commit}")
  log "building the baseline ($rev)"
  git worktree add --detach "$2/baseline" "$rev" >/dev/null
  target=${BASELINE_TARGET_DIR:-$2/target}
  (cd "$2/baseline" && CARGO_TARGET_DIR="$target" cargo build --release --locked --bin auth-service) >&2
  echo "$target/release/auth-service"
}
