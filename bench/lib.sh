# Shared by bench/run.sh and bench/compare.sh (sourced after scripts/lib/postgres.sh).

# wrk drives every scenario; it is installed with apt-get when missing and running as root.
ensure_wrk() {
  command -v wrk >/dev/null && return
  [[ $(id -u) -eq 0 ]] || die "wrk is missing (apt-get install wrk)"
  log "installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
