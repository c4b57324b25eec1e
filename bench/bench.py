#!/usr/bin/env python3
"""The benchmark suite's driver (bench/run.sh builds the binary and starts PostgreSQL first).

Starts the release binary on each backend, drives it with wrk, and prints one table per
backend: each scenario with req/s, p50, p99 and errors, and each target as a ratio against a
baseline measured in the same run (the machine is shared: absolute numbers alone mean little).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "bench-secret-0123456789abcdef0123456789"
PASSWORD = "correct horse battery staple"
CORES = os.cpu_count() or 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, body=None, headers=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def proc_status(pid, field):
    """VmRSS or VmHWM of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


class Server:
    """The release binary on a free port, with its own folder."""

    def __init__(self, binary, database_url, **env):
        self.dir = tempfile.mkdtemp(prefix="auth-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": database_url.replace("{dir}", self.dir),
            "PORT": str(self.port),
            "JWT_SECRET": SECRET,
            "UPLOAD_DIR": os.path.join(self.dir, "uploads"),
            "RATE_LIMIT_ENABLED": "false",
            "RUST_LOG": "error",
        }
        environment.update({k: str(v) for k, v in env.items()})
        self.started = time.perf_counter()
        self.process = subprocess.Popen([binary], cwd=self.dir, env=environment)
        self.ready_secs = None
        while time.perf_counter() - self.started < 30:
            try:
                status, _ = request(self.url + "/readyz")
                if status == 200:
                    self.ready_secs = time.perf_counter() - self.started
                    break
            except OSError:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"server exited with {self.process.returncode}")
            time.sleep(0.001)
        if self.ready_secs is None:
            raise SystemExit("server not ready in 30 s")

    def rss(self):
        return proc_status(self.process.pid, "VmRSS")

    def peak_rss(self):
        return proc_status(self.process.pid, "VmHWM")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def token(self, email):
        status, body = request(self.url + "/api/register",
                               {"name": "Bench", "email": email, "password": PASSWORD})
        # On PostgreSQL the database outlives each server: the user may be there already.
        assert status == 201 or json.loads(body)["message"] == "Email already registered", (status, body)
        status, body = request(self.url + "/api/login", {"email": email, "password": PASSWORD})
        assert status == 200, (status, body)
        return json.loads(body)["access_token"]


def wrk(url, connections, seconds, script=None, headers=(), threads=2):
    """Runs wrk and returns req/s, p50 and p99 in ms, and the error count."""
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
               "--latency", "--timeout", "30s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", os.path.join(HERE, script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": errors,
    }


def bcrypt_limit(binary_dir):
    """cores / time of one bcrypt verification at cost 12, measured now."""
    example = os.path.join(binary_dir, "examples", "bcrypt_verify_time")
    output = subprocess.run([example, "12", "10"], capture_output=True, text=True, check=True).stdout
    seconds = float(output.split()[0])
    return CORES / seconds, seconds


def png(path, width, height, noise=True):
    """A real PNG of noise pixels (incompressible: about 3 bytes a pixel)."""
    raw = bytearray()
    row = width * 3
    for _ in range(height):
        raw.append(0)
        raw += os.urandom(row) if noise else bytes(row)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 1)))
        f.write(chunk(b"IEND", b""))


def junk_png(path, size):
    """PNG magic bytes and `size` bytes of noise: streamed to disk whole, then refused by the
    decoder, so it measures the stream without the decode."""
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(os.urandom(size - 8))


def upload(url, token, path, expect):
    started = time.perf_counter()
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
         "-F", f"profile_pic=@{path};filename=bench.png", url + "/api/upload_profile_pic"],
        capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert result.stdout == str(expect), (path, result.stdout)
    return elapsed


def copy_time(path, folder):
    """`cp` of the same file into the server's folder (same disk, no fsync: as the service)."""
    target = os.path.join(folder, "copy")
    started = time.perf_counter()
    subprocess.run(["cp", path, target], check=True)
    elapsed = time.perf_counter() - started
    os.remove(target)
    return elapsed


def postgres_commits(database_url):
    """Transactions committed in the service's database per request (each statement the
    service sends outside a transaction is one)."""
    query = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    output = subprocess.run(["psql", database_url, "-Atc", query], capture_output=True, text=True, check=True)
    return int(output.stdout.strip())


def check(ok):
    return "✓" if ok else "✗"


def run_requests(binary, database_url, seconds):
    """Scenarios 1–5 and 7, and round trips per authenticated request."""
    rows = []

    # (7) idle RSS and time to ready: a fresh process, nothing else running.
    server = Server(binary, database_url)
    idle_rss, ready_ms = server.rss(), server.ready_secs * 1000
    server.stop()

    server = Server(binary, database_url, BCRYPT_COST=12)
    token = server.token("hot@example.com")
    healthz = wrk(server.url + "/healthz", 64, seconds)
    rows.append(("1. GET /healthz (64 conn)", healthz))
    me = wrk(server.url + "/", 64, seconds, headers=[f"Authorization: Bearer {token}"])
    rows.append(("2. GET / bearer (64 conn)", me))

    round_trips = None
    if database_url.startswith("postgres"):
        # An idle backend publishes its counters within 10 s (PGSTAT_IDLE_INTERVAL): wait out
        # the load above, count, then wait for this count to be published.
        time.sleep(11)
        before = postgres_commits(database_url)
        count = 200
        for _ in range(count):
            request(server.url + "/", headers={"Authorization": f"Bearer {token}"})
        time.sleep(11)
        after = postgres_commits(database_url)
        # The second psql query is a transaction of its own.
        round_trips = (after - before - 1) / count

    limit, verify_secs = bcrypt_limit(os.path.dirname(binary))
    login_lua = "login.lua"
    login = wrk(server.url + "/api/login", 2 * CORES, seconds, script=login_lua)
    rows.append(("3. POST /api/login, cost 12", login))

    # (4) GET / while logins saturate the CPU.
    loaded_process = subprocess.Popen(
        ["wrk", "-t1", f"-c{2 * CORES}", f"-d{seconds + 4}s", "--timeout", "30s", "-s",
         os.path.join(HERE, login_lua), server.url + "/api/login"],
        stdout=subprocess.DEVNULL)
    time.sleep(2)
    me_loaded = wrk(server.url + "/", 64, seconds, headers=[f"Authorization: Bearer {token}"])
    loaded_process.wait()
    rows.append(("4. GET / during (3)", me_loaded))

    register = wrk(server.url + "/api/register", 2 * CORES, seconds, script="register.lua")
    rows.append(("5. POST /api/register, cost 12", register))
    server.stop()
    return {"rows": rows, "me": me, "healthz": healthz, "login": login, "register": register,
            "me_loaded": me_loaded, "round_trips": round_trips, "limit": limit,
            "verify_secs": verify_secs, "idle_rss": idle_rss, "ready_ms": ready_ms}


def run_uploads(binary, database_url):
    """Scenario 6, each size in a fresh process so VmHWM is that upload's peak."""
    uploads = []
    with tempfile.TemporaryDirectory(prefix="auth-bench-files-") as files:
        one = os.path.join(files, "1mib.png")
        png(one, 600, 580)
        fifty = os.path.join(files, "50mib.png")
        png(fifty, 4096, 4096)
        junk = os.path.join(files, "junk50.png")
        junk_png(junk, 50 * 1024 * 1024)
        for label, path, expect, repeat in [("1 MiB PNG", one, 200, 10), ("50 MiB PNG", fifty, 200, 2),
                                            ("50 MiB stream, refused", junk, 400, 2)]:
            server = Server(binary, database_url, MAX_UPLOAD_BYTES=64 * 1024 * 1024, BCRYPT_COST=4)
            token = server.token("up@example.com")
            base_rss = server.rss()
            times = [upload(server.url, token, path, expect) for _ in range(repeat)]
            size = os.path.getsize(path)
            cp = min(copy_time(path, server.dir) for _ in range(3))
            best = min(times)
            time.sleep(0.5)
            uploads.append({"label": label, "size_mib": size / 2**20, "mib_s": size / 2**20 / best,
                            "cp_ratio": cp / best, "peak_mib": server.peak_rss(), "base_mib": base_rss,
                            "after_mib": server.rss()})
            server.stop()
    return uploads


def report(name, r, uploads):
    rows, me, healthz, login, register = r["rows"], r["me"], r["healthz"], r["login"], r["register"]
    me_loaded, round_trips, limit = r["me_loaded"], r["round_trips"], r["limit"]
    verify_secs, idle_rss, ready_ms = r["verify_secs"], r["idle_rss"], r["ready_ms"]
    print(f"\n## {name}\n")
    print("| scenario | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for label, row in rows:
        print(f"| {label} | {row['rps']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {row['errors']} |")
    print()
    print("| upload | MiB/s | vs cp | peak RSS MiB | RSS before / after MiB |")
    print("|---|---:|---:|---:|---:|")
    for u in uploads:
        print(f"| {u['label']} ({u['size_mib']:.1f} MiB) | {u['mib_s']:.0f} | {u['cp_ratio']:.0%} | "
              f"{u['peak_mib']:.1f} | {u['base_mib']:.1f} / {u['after_mib']:.1f} |")
    print()
    print(f"bcrypt at cost 12: {verify_secs * 1000:.0f} ms a verification; limit {CORES} cores / that = {limit:.1f}/s")
    print(f"idle RSS {idle_rss:.1f} MiB; ready {ready_ms:.0f} ms after start")
    print()

    decode_limit_mib = 4096 * 4096 * 4 / 2**20
    stream_growth = uploads[2]["peak_mib"] - uploads[0]["peak_mib"]
    targets = [
        (round_trips is None or round_trips <= 1.05,
         "one database round trip per authenticated request" +
         ("" if round_trips is None else f" (measured {round_trips:.2f})")),
        (me["rps"] >= 0.25 * healthz["rps"], f"(2) ≥ 25% of (1): {me['rps'] / healthz['rps']:.0%}"),
        (me["p99"] <= 3 * me["p50"], f"(2) p99 ≤ 3× p50: {me['p99'] / me['p50']:.1f}×"),
        (login["rps"] >= 0.9 * limit, f"(3) ≥ 90% of the bcrypt limit: {login['rps'] / limit:.0%}"),
        (me_loaded["p99"] <= 3 * me["p99"], f"(4) p99 ≤ 3× idle p99 of (2): {me_loaded['p99'] / me['p99']:.1f}×"),
        (register["rps"] >= 0.9 * limit, f"(5) ≥ 90% of the bcrypt limit: {register['rps'] / limit:.0%}"),
        (stream_growth < 8, f"(6) stream peak RSS growth 1 MiB → 50 MiB < 8 MiB: {stream_growth:+.1f} MiB"),
        (uploads[1]["peak_mib"] < decode_limit_mib + 8 + uploads[1]["base_mib"],
         f"(6) full 50 MiB upload peak < decode limit + 8 MiB: {uploads[1]['peak_mib']:.0f} MiB "
         f"(limit {decode_limit_mib:.0f} + 8 over {uploads[1]['base_mib']:.0f})"),
        (uploads[1]["after_mib"] < uploads[1]["base_mib"] + 8,
         f"(6) memory comes back after it: {uploads[1]['after_mib']:.0f} MiB after, {uploads[1]['base_mib']:.0f} before"),
        (uploads[2]["cp_ratio"] >= 0.5, f"(6) stream throughput ≥ 50% of cp: {uploads[2]['cp_ratio']:.0%}"),
        (idle_rss < 15, f"(7) idle RSS < 15 MiB: {idle_rss:.1f} MiB"),
    ]
    if name == "SQLite":
        targets.append((ready_ms < 200, f"(7) ready < 200 ms on SQLite: {ready_ms:.0f} ms"))
    for ok, text in targets:
        print(f"- {check(ok)} {text}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"auth-service benchmark: {CORES} cores, wrk, {args.seconds} s a scenario, "
          f"RATE_LIMIT_ENABLED=false")
    urls = {"SQLite": "sqlite://{dir}/data/auth.db", "PostgreSQL": args.postgres_url}
    names = [name for name, key in [("SQLite", "sqlite"), ("PostgreSQL", "postgres")] if key in backends]
    # Every request scenario before any upload: the uploads' hundreds of MiB of disk writes
    # were seen to spoil the latency figures measured after them (PostgreSQL's (4), 48-122x
    # after the SQLite uploads against 3.4-3.9x without).
    requests = {}
    for name in names:
        print(f"measuring requests on {name}", flush=True)
        requests[name] = run_requests(args.binary, urls[name], args.seconds)
    uploads = {}
    for name in names:
        print(f"measuring uploads on {name}", flush=True)
        uploads[name] = run_uploads(args.binary, urls[name])
    for name in names:
        report(name, requests[name], uploads[name])


if __name__ == "__main__":
    main()
