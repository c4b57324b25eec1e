# The three-replica run of scripts/test (sourced, not run): three release binaries on one
# PostgreSQL database and one S3 API server (moto, tests/s3/server.py), behind a real nginx
# with round-robin; the Node client tests and tests/replicas/ through nginx, one replica
# killed with SIGKILL under load, then every object checked against the rows that name it.
# Needs WORK, PG_PORT, PG_BIN and SERVER_PIDS from scripts/test, start_service and wait_ready
# from scripts/lib/service.sh; nginx from the distribution (installed by scripts/lib/setup.sh).

find_nginx() {
  command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }
}

replicas_sql() {
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -At -c "$1" replicas
}

replicas_test() {
  local nginx dir s3_port s3_pid bucket proxy_port front_port smtp_port i port upstreams="" pids=() urls=()
  nginx=$(find_nginx || true)
  [[ -n "$nginx" ]] || die "nginx not found: the three-replica test puts it in front of the replicas
  (Debian/Ubuntu: apt-get install nginx-light)"

  dir="$WORK/replicas"
  mkdir -p "$dir/caught"
  s3_port=$(free_port)
  python3 tests/s3/server.py "$s3_port" --until-killed >"$dir/s3.log" 2>&1 &
  s3_pid=$!
  SERVER_PIDS+=("$s3_pid")
  for _ in $(seq 1 150); do
    grep -q listening "$dir/s3.log" 2>/dev/null && break
    kill -0 "$s3_pid" 2>/dev/null || { cat "$dir/s3.log" >&2; die "the S3 server exited"; }
    sleep 0.1
  done
  bucket=replicas
  curl -fs -X PUT "http://127.0.0.1:$s3_port/$bucket" >/dev/null

  smtp_port=$(free_port)
  python3 tests/smtp/catcher.py "$smtp_port" "$dir/caught" >"$dir/smtp.log" 2>&1 &
  SERVER_PIDS+=("$!")

  create_database replicas
  proxy_port=$(free_port)
  front_port=$(free_port)
  for i in 1 2 3; do
    port=$(free_port)
    start_service server "$dir/r$i" "$port" \
      DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/replicas" \
      PUBLIC_URL="http://127.0.0.1:$proxy_port" TRUSTED_PROXIES=127.0.0.10,127.0.0.2 \
      STORAGE=s3 S3_BUCKET="$bucket" S3_ENDPOINT="http://127.0.0.1:$s3_port" S3_PREFIX=pictures/ \
      S3_FORCE_PATH_STYLE=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
      SMTP_URL="smtp://127.0.0.1:$smtp_port" WEBAUTHN_ORIGINS="http://localhost:$proxy_port" \
      "${OIDC_SERVICE_SETTINGS[@]}" \
      RATE_LIMIT_REGISTER_PER_IP=100000/1h RATE_LIMIT_LOGIN_PER_IP=100000/1m \
      RATE_LIMIT_UPLOAD_PER_IP=100000/1h RATE_LIMIT_REFRESH_PER_IP=100000/1m \
      RATE_LIMIT_LOGIN_PER_ACCOUNT_AND_IP=5/15m
    pids+=("$SERVICE_PID")
    urls+=("http://127.0.0.1:$port")
    upstreams+="server 127.0.0.1:$port max_fails=1 fail_timeout=10s; "
    log "replica $i: pid $SERVICE_PID on port $port"
  done

  # The passkey test's page, served by nginx on the service's origin (readable by its workers).
  mkdir -p "$dir/page/client"
  cp tests/replicas/passkey-page/index.html "$dir/page/"
  cp clients/js/src/*.js "$dir/page/client/"
  chmod -R a+rX "$dir/page"
  sed -e "s|@WORK@|$dir|g" -e "s|@PORT@|$proxy_port|g" -e "s|@FRONT_PORT@|$front_port|g" \
    -e "s|@UPSTREAMS@|$upstreams|" \
    tests/replicas/nginx.conf.template >"$dir/nginx.conf"
  "$nginx" -t -q -c "$dir/nginx.conf" -e "$dir/nginx-error.log" || die "nginx refuses its configuration"
  "$nginx" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" &
  SERVER_PIDS+=("$!")
  wait_ready "http://127.0.0.1:$proxy_port/readyz" "$!" "$dir/nginx-error.log"
  log "nginx on port $proxy_port in front of the three replicas"

  log "node client tests through nginx"
  AUTH_SERVICE_URL="http://127.0.0.1:$proxy_port" MAIL_CATCHER_DIR="$dir/caught" \
    OIDC_PROVIDER_URL="$OIDC_PROVIDER_URL" node --test tests/node/
  log "three replicas behind nginx: shared pictures, logouts, limits, then SIGKILL under load"
  PROXY_URL="http://127.0.0.1:$proxy_port" FRONT_URL="http://127.0.0.1:$front_port" \
    VICTIM_PID="${pids[1]}" REPLICA_URLS="${urls[*]}" MAIL_CATCHER_DIR="$dir/caught" \
    node --test --test-reporter=spec tests/replicas/

  log "every named picture has its object; every object is named, or noted for the sweeper"
  local objects named noted
  objects=$(curl -fs "http://127.0.0.1:$s3_port/$bucket?list-type=2&max-keys=100000" \
    | grep -o '<Key>[^<]*</Key>' | sed -e 's|<Key>pictures/||' -e 's|</Key>||' | sort)
  named=$(replicas_sql "SELECT profile_pic FROM users WHERE profile_pic IS NOT NULL" | sort)
  noted=$(replicas_sql "SELECT name FROM unsettled_pictures" | sort)
  local without_object unnamed
  without_object=$(comm -13 <(echo "$objects") <(echo "$named"))
  unnamed=$(comm -23 <(echo "$objects") <(echo "$named"))
  [[ -z "$without_object" ]] || die "rows name pictures the bucket lacks: $without_object"
  [[ -z "$(comm -23 <(echo "$unnamed") <(echo "$noted"))" ]] \
    || die "objects no row names and nobody will remove: $(comm -23 <(echo "$unnamed") <(echo "$noted"))"
  echo "$(echo "$named" | grep -c .) pictures named by rows, each in the bucket;" \
    "$(echo "$unnamed" | grep -c .) objects no row names (${unnamed//$'\n'/ }), each noted for the sweeper"
}
