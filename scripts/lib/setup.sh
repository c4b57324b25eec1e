# What the test command needs, set up before anything is built (sourced by scripts/test, after
# postgres.sh and replicas.sh). The same on every machine, with or without CI:
#   - the Python servers of the tests (tests/requirements.txt) into .venv, the project's own
#     virtual environment (git-ignored; made on the first run, reused after), put first on PATH;
#   - system packages (the PostgreSQL server, nginx, Chromium, Python's venv module) with
#     apt-get when running as root on Debian or Ubuntu;
#   - elsewhere, everything is checked first and the run stops once, naming all that is missing
#     and the one command that installs it.
#   - the client package's dev tools (TypeScript, playwright-core) and the tests' OpenID
#     provider (npm's oidc-provider, tests/oidc) and webhook receiver (npm's standardwebhooks,
#     tests/webhooks) with `npm ci`.

VENV_DIR="$PWD/.venv"

venv_has_the_tools() {
  [[ -x "$VENV_DIR/bin/python3" ]] &&
    "$VENV_DIR/bin/python3" -c 'import aiosmtpd, moto.server, flask, flask_cors, yaml' 2>/dev/null
}

can_apt_get() {
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null
}

# The Debian packages that give what this machine lacks, one a line.
missing_packages() {
  find_pg_bin >/dev/null || echo postgresql
  find_nginx >/dev/null || echo nginx-light
  [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || echo chromium
  venv_has_the_tools || python3 -c 'import venv, ensurepip' 2>/dev/null || echo python3-venv
}

setup_test_tools() {
  local missing=() packages=() tool
  for tool in cargo node npm python3 curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "not found: ${missing[*]}. Install them first (Rust from
  https://rustup.rs, Node.js 20 or later with npm, Python 3, curl); the rest this script sets up."
  mapfile -t packages < <(missing_packages)
  if ((${#packages[@]} > 0)); then
    if can_apt_get; then
      log "installing ${packages[*]} with apt-get"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null
      mapfile -t packages < <(missing_packages)
    fi
    ((${#packages[@]} == 0)) || die "missing: ${packages[*]}. Install them with:
    sudo apt-get install ${packages[*]}
  (another system: its packages of the PostgreSQL server, nginx, Chromium and Python's venv
  module; PG_BIN and CHROMIUM name where the first and the third are)"
  fi
  if ! venv_has_the_tools; then
    log "the tests' Python servers into $VENV_DIR (tests/requirements.txt)"
    python3 -m venv "$VENV_DIR"
    "$VENV_DIR/bin/python3" -m pip install --quiet --disable-pip-version-check \
      -r tests/requirements.txt
    venv_has_the_tools || die "$VENV_DIR: the Python tools did not install"
  fi
  export PATH="$VENV_DIR/bin:$PATH"
  log "the client package's dev tools (npm ci)"
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
  log "the tests' OpenID provider (npm ci in tests/oidc)"
  (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
  log "the tests' webhook receiver (npm ci in tests/webhooks)"
  (cd tests/webhooks && npm ci --no-audit --no-fund --loglevel=error)
}
