#!/usr/bin/env python3
"""The capacity model's measurements (bench/capacity.sh starts PostgreSQL with
pg_stat_statements and fsync on first).

For each endpoint of the site's mix, alone against one replica on PostgreSQL: req/s, p50 and
p99 (wrk), CPU-seconds per request of the replica and of PostgreSQL (from /proc), and the
database work per request (pg_stat_statements: statements, writes, transactions). Then the
replicas and PostgreSQL cores the mix needs at 1k, 10k and 100k requests per second, computed
from those numbers (the formulas are printed with them: docs/SCALING.md explains them).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the shared helpers: Server, request, png)

TICKS = os.sysconf("SC_CLK_TCK")
# The site's mix, per request: the website asks GET / on each page load; an access token lasts
# an hour and a session refreshes about once per 15 page loads; logins and registrations are a
# small share; uploads rarer still.
MIX = {"GET /": 0.90, "refresh": 0.06, "login": 0.03, "register": 0.005, "upload": 0.005}
LIMITS = {  # on, as in production, but never reached from the one benchmark address
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_LOGIN_PER_IP": "100000000/1m",
    "RATE_LIMIT_LOGIN_PER_ACCOUNT": "100000000/1m",
    "RATE_LIMIT_LOGIN_PER_ACCOUNT_AND_IP": "100000000/1m",
    "RATE_LIMIT_REGISTER_PER_IP": "100000000/1m",
    "RATE_LIMIT_UPLOAD_PER_IP": "100000000/1m",
    "RATE_LIMIT_REFRESH_PER_IP": "100000000/1m",
}


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return total / TICKS


def postgres_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def psql(url, sql):
    return subprocess.run(["psql", url, "-AtF", "\t", "-c", sql], capture_output=True, text=True,
                          check=True).stdout


def wrk(url, connections, threads, seconds, script=None, headers=(), env=None):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", os.path.join(HERE, script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})}).stdout

    def ms(label):
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": errors,
    }


def measure(name, server, db_url, run):
    """Runs one scenario and what it cost: CPU of both sides, and the statements it sent."""
    psql(db_url, "SELECT pg_stat_statements_reset()")
    commits = int(psql(db_url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
    pg = postgres_pids()
    cpu_before = (cpu_seconds([server.process.pid]), cpu_seconds(pg))
    result = run()
    cpu_after = (cpu_seconds([server.process.pid]), cpu_seconds(pg))
    done = result["requests"] - result["errors"]
    result["service_cpu_ms"] = (cpu_after[0] - cpu_before[0]) / done * 1000
    result["postgres_cpu_ms"] = (cpu_after[1] - cpu_before[1]) / done * 1000
    commits_after = int(psql(db_url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
    result["transactions"] = (commits_after - commits) / done
    rows = psql(db_url, """
        SELECT s.calls, regexp_replace(s.query, '\\s+', ' ', 'g') FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()
          AND s.query NOT ILIKE '%pg_stat%' ORDER BY s.calls DESC""")
    statements = []
    for line in rows.splitlines():
        calls, query = line.split("\t", 1)
        per = int(calls) / done
        if per >= 0.01:  # the sweeper's and the mail worker's statements are noise here
            statements.append((per, query))
    result["statements"] = statements
    result["queries"] = sum(per for per, q in statements if not re.match(r"(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)", q, re.I))
    result["writes"] = sum(per for per, q in statements if re.match(r"(INSERT|UPDATE|DELETE)", q, re.I))
    print(f"\n### {name}\n")
    print(f"{result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, "
          f"{result['errors']} errors of {result['requests']}; per request: service "
          f"{result['service_cpu_ms']:.3f} CPU-ms, PostgreSQL {result['postgres_cpu_ms']:.3f} CPU-ms, "
          f"{result['queries']:.2f} statements ({result['writes']:.2f} writes), "
          f"{result['transactions']:.2f} transactions")
    print("\n| per request | statement |\n|---:|---|")
    for per, query in statements:
        print(f"| {per:.2f} | `{query[:150]}` |")
    return result


def new_user(server, email, password=bench.PASSWORD):
    status, body = bench.request(server.url + "/api/register", {"name": "Bench", "email": email, "password": password})
    assert status in (201, 400), (status, body)
    status, body = bench.request(server.url + "/api/login", {"email": email, "password": password})
    assert status == 200, (status, body)
    return json.loads(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    url, seconds = args.postgres_url, args.seconds
    psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    cores = os.cpu_count()
    print(f"auth-service capacity: {cores} cores, one replica on PostgreSQL (fsync on), wrk on the "
          f"same machine, {seconds} s a scenario, rate limits on (never reached)")
    results = {}
    work = tempfile.mkdtemp(prefix="auth-capacity-")

    # Every endpoint but login at the lowest bcrypt cost: none of them hashes.
    server = bench.Server(args.binary, url, BCRYPT_COST=4, **LIMITS)
    try:
        token = new_user(server, "hot@example.com")["access_token"]
        results["GET /"] = measure("GET / with a bearer token (64 connections)", server, url, lambda: wrk(
            server.url + "/", 64, 2, seconds, headers=[f"Authorization: Bearer {token}"]))
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as f:
            for i in range(8):
                f.write(new_user(server, f"refresh{i}@example.com")["refresh_token"] + "\n")
        results["refresh"] = measure("POST /api/token/refresh (8 chains)", server, url, lambda: wrk(
            server.url + "/", 8, 8, seconds, script="refresh.lua", env={"TOKENS_FILE": tokens}))
        picture = os.path.join(work, "avatar.png")
        bench.png(picture, 256, 256)
        size = os.path.getsize(picture)
        results["upload"] = measure(f"POST /api/upload_profile_pic, a {size // 1024} KiB 256x256 PNG (4 connections)",
                                    server, url, lambda: wrk(
            server.url + "/api/upload_profile_pic", 4, 2, seconds, script="upload.lua",
            env={"UPLOAD_FILE": picture, "UPLOAD_TOKEN": token}))
    finally:
        server.stop()

    server = bench.Server(args.binary, url, BCRYPT_COST=12, **LIMITS)
    try:
        new_user(server, "hot@example.com")
        results["login"] = measure("POST /api/login at bcrypt cost 12 (4 connections)", server, url, lambda: wrk(
            server.url + "/api/login", 4, 2, seconds, script="login.lua"))
        results["register"] = measure("POST /api/register at bcrypt cost 12 (4 connections)", server, url, lambda: wrk(
            server.url + "/api/register", 4, 2, seconds, script="register.lua"))
    finally:
        server.stop()

    # Behind PgBouncer < 1.21 in transaction mode: no named prepared statements. The cost, as a
    # ratio to the same endpoints measured above in this run.
    server = bench.Server(args.binary, url, BCRYPT_COST=4, DATABASE_PREPARED_STATEMENTS="false", **LIMITS)
    unprepared = {}
    try:
        token = new_user(server, "hot@example.com")["access_token"]
        unprepared["GET /"] = measure("GET /, DATABASE_PREPARED_STATEMENTS=false", server, url, lambda: wrk(
            server.url + "/", 64, 2, seconds, headers=[f"Authorization: Bearer {token}"]))
        with open(tokens, "w") as f:
            for i in range(8):
                f.write(new_user(server, f"unprepared{i}@example.com")["refresh_token"] + "\n")
        unprepared["refresh"] = measure("refresh, DATABASE_PREPARED_STATEMENTS=false", server, url, lambda: wrk(
            server.url + "/", 8, 8, seconds, script="refresh.lua", env={"TOKENS_FILE": tokens}))
    finally:
        server.stop()

    print("\n### The mix, and what it needs\n")
    print("| endpoint | share | req/s alone | service CPU-ms | PostgreSQL CPU-ms | statements | writes | transactions |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, share in MIX.items():
        r = results[name]
        print(f"| {name} | {share:.1%} | {r['rps']:.0f} | {r['service_cpu_ms']:.3f} | {r['postgres_cpu_ms']:.3f} "
              f"| {r['queries']:.2f} | {r['writes']:.2f} | {r['transactions']:.2f} |")
    for name, r in unprepared.items():
        base = results[name]
        print(f"\n{name} without prepared statements: {r['rps'] / base['rps']:.2f}x the req/s, "
              f"{r['postgres_cpu_ms'] / base['postgres_cpu_ms']:.2f}x PostgreSQL's CPU per request")
    service_ms = sum(share * results[n]["service_cpu_ms"] for n, share in MIX.items())
    postgres_ms = sum(share * results[n]["postgres_cpu_ms"] for n, share in MIX.items())
    statements = sum(share * results[n]["queries"] for n, share in MIX.items())
    writes = sum(share * results[n]["writes"] for n, share in MIX.items())
    bcrypt_ms = sum(MIX[n] * results[n]["service_cpu_ms"] for n in ("login", "register"))
    transactions = sum(share * results[n]["transactions"] for n, share in MIX.items())
    print(f"\nper request of the mix: service {service_ms:.3f} CPU-ms (bcrypt's share "
          f"{bcrypt_ms / service_ms:.0%}), PostgreSQL {postgres_ms:.3f} CPU-ms, {statements:.2f} statements, "
          f"{writes:.2f} writes, {transactions:.2f} transactions")
    print("\n| mix req/s | service cores | replicas of 2 cores at 70% | PostgreSQL cores | statements/s | writes/s | commits/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for rate in (1_000, 10_000, 100_000):
        service_cores = rate * service_ms / 1000
        replicas = max(2, -(-service_cores // (2 * 0.7)))
        print(f"| {rate:,} | {service_cores:.1f} | {replicas:.0f} | {rate * postgres_ms / 1000:.1f} "
              f"| {rate * statements:,.0f} | {rate * writes:,.0f} | {rate * transactions:,.0f} |")


if __name__ == "__main__":
    main()
