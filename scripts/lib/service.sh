# Starts the release binary as the test and bench scripts run it (sourced after postgres.sh,
# which gives log and die). `start_service NAME DIR PORT [VARIABLE=value ...]` runs
# target/release/auth-service in DIR (its data/ and uploads/ land there) on 127.0.0.1:PORT with
# the settings every scripted run shares (a known JWT secret and MFA key, bcrypt at cost 4,
# warnings only), then the given variables, which win; its log is DIR/NAME.log. Its pid is
# appended to SERVER_PIDS, which the caller's cleanup stops, and left in SERVICE_PID. It returns
# once /readyz answers, and fails with the log when the process exits or never answers.

SERVICE_BINARY="$PWD/target/release/auth-service"

start_service() {
  local name=$1 dir=$2 port=$3
  shift 3
  mkdir -p "$dir"
  (cd "$dir" && exec env HOST=127.0.0.1 PORT="$port" \
      JWT_SECRET="scripted-run-secret-0123456789abcdef" BCRYPT_COST=4 \
      MFA_ENCRYPTION_KEY="bm9kZS10ZXN0LWtleS1vZi0zMi1ieXRlcy1mb3ItYWU=" RUST_LOG=warn \
      "$@" "$SERVICE_BINARY") >"$dir/$name.log" 2>&1 &
  SERVICE_PID=$!
  SERVER_PIDS+=("$SERVICE_PID")
  wait_ready "http://127.0.0.1:$port/readyz" "$SERVICE_PID" "$dir/$name.log"
}

# Waits until `url` answers 200, or fails naming the process `pid` and its log.
wait_ready() {
  local url=$1 pid=$2 logfile=$3
  for _ in $(seq 1 150); do
    curl -fs "$url" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$logfile: the process exited"; }
    sleep 0.1
  done
  cat "$logfile" >&2
  die "$url did not answer"
}

# The tests' OpenID provider (npm's oidc-provider, tests/oidc/provider.mjs) on a free port:
# OIDC_PROVIDER_URL is its issuer, and OIDC_SERVICE_SETTINGS the variables that make a service
# sign in with it as the provider `oidc` (its addresses trusted) and come back to the test's page.
start_oidc_provider() {
  local logfile=$1 pid
  node tests/oidc/provider.mjs >"$logfile" 2>"$logfile.err" &
  pid=$!
  SERVER_PIDS+=("$pid")
  for _ in $(seq 1 100); do
    grep -q "listening on" "$logfile" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$logfile.err" >&2; die "the OpenID provider exited"; }
    sleep 0.1
  done
  OIDC_PROVIDER_URL="http://127.0.0.1:$(sed -n 's/^listening on //p' "$logfile")"
  OIDC_SERVICE_SETTINGS=(
    OIDC_PROVIDERS=oidc OIDC_OIDC_ISSUER="$OIDC_PROVIDER_URL" OIDC_OIDC_CLIENT_ID=auth-service
    OIDC_OIDC_CLIENT_SECRET=auth-service-test-secret-0123456789 OIDC_OIDC_TRUST_EMAIL=true
    OAUTH_REDIRECT_ALLOWLIST=http://localhost:3000/signed-in
  )
}
