#!/usr/bin/env python3
"""Does `POST /api/password/forgot` answer in similar time for a known and an unknown address?
The release binary on SQLite (file transport: delivery happens after the answer either way),
requests alternating between the two, latency percentiles of each printed, never asserted.

    bench/forgot_timing.py --binary target/release/auth-service [--requests 400]
"""
import argparse
import json
import statistics
import time
import urllib.request

from bench import Server


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as response:
        response.read()
        status = response.status
    return status, (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    server = Server(args.binary, "sqlite://{dir}/auth.db", BCRYPT_COST=4)
    try:
        server.token("known@example.com")
        times = {"known": [], "unknown": []}
        for i in range(args.requests):
            for kind in times:
                status, ms = post(server.url + "/api/password/forgot", {"email": f"{kind}@example.com"})
                assert status == 202, status
                if i >= 20:  # warm-up
                    times[kind].append(ms)
        for kind, samples in times.items():
            samples.sort()
            p = lambda q: samples[int(q * (len(samples) - 1))]
            print(f"{kind:8} n={len(samples)}  p50 {p(0.5):.2f} ms  p90 {p(0.9):.2f} ms  "
                  f"p99 {p(0.99):.2f} ms  mean {statistics.mean(samples):.2f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
