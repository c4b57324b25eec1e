#!/bin/bash
# Instructions of GET / under callgrind (these machines have no hardware counters for
# `perf stat`): the binary on SQLite, 200 warm-up requests then N more, the whole run profiled
# into /tmp/cg-NAME.out. Run it with N=0 and N=2000 and subtract: the difference / 2000 is the
# instructions of one request, whatever start-up costs. Build the binary with symbols, e.g.
#   CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
#   CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --release
# usage: bench/callgrind_get.sh BINARY NAME [N]
BIN=$1; NAME=$2; N=${3:-2000}; D=$(mktemp -d); PORT=$((20000 + RANDOM % 10000))
cd $D
env DATABASE_URL=sqlite://$D/auth.db HOST=127.0.0.1 PORT=$PORT JWT_SECRET=node-client-test-secret-0123456789abcdef BCRYPT_COST=4 RATE_LIMIT_ENABLED=false UPLOAD_DIR=$D/up RUST_LOG=error WORKERS=1 \
  valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file=/tmp/cg-$NAME.out $BIN >/dev/null 2>$D/vg.log &
VPID=$!
for i in $(seq 1 300); do curl -s -o /dev/null localhost:$PORT/healthz && break; sleep 0.2; done
curl -s -X POST localhost:$PORT/api/register -H 'Content-Type: application/json' -d '{"name":"B","email":"b@example.com","password":"correct horse battery"}' >/dev/null
TOKEN=$(curl -s -X POST localhost:$PORT/api/login -H 'Content-Type: application/json' -d '{"email":"b@example.com","password":"correct horse battery"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
python3 - "$PORT" "$TOKEN" 200 <<'PY'
import http.client, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", "/", headers={"Authorization": "Bearer " + token}); r = c.getresponse(); r.read(); assert r.status == 200
PY

python3 - "$PORT" "$TOKEN" "$N" <<'PY'
import http.client, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", "/", headers={"Authorization": "Bearer " + token}); r = c.getresponse(); r.read(); assert r.status == 200
PY


sleep 1; kill -INT $VPID; wait $VPID 2>/dev/null
ls /tmp/cg-$NAME.out* | head
