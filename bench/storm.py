#!/usr/bin/env python3
"""Writes under a storm, on SQLite: the release binary, and clients that each have an account
of their own and mix reads and writes (GET /, refresh, picture upload, login) as fast as they
can for a while; then one user's uploads ten at a time. Every answer is counted by route and
status, and the 5xx are printed: the review saw 151 of 39,469 answers 503 (all uploads), and 3
to 8 of 60 concurrent uploads of one user, when a transaction that read before it wrote could
not wait for SQLite's write lock.

    bench/storm.py --binary target/release/auth-service [--seconds 60] [--clients 8]

Numbers are printed, never asserted; it exits 1 if any answer was a 5xx.
"""
import argparse
import collections
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid

from bench import PASSWORD, Server, png, request

BOUNDARY = "storm-boundary"


def upload_body(picture, name):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"profile_pic\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").encode()
    return head + picture + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(url, token, picture, name):
    req = urllib.request.Request(url + "/api/upload_profile_pic", data=upload_body(picture, name),
                                 method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_route = collections.Counter()

    def add(self, route, status):
        with self.lock:
            self.by_route[(route, status)] += 1


def account(url, name):
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    status, _ = request(url + "/api/register", {"name": name, "email": email, "password": PASSWORD})
    assert status == 201, status
    status, body = request(url + "/api/login", {"email": email, "password": PASSWORD})
    assert status == 200, status
    return email, json.loads(body)


def client(url, picture, counts, deadline, index):
    email, tokens = account(url, f"storm{index}")
    step = 0
    while time.monotonic() < deadline:
        step += 1
        status, _ = request(url + "/", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        counts.add("GET /", status)
        if step % 3 == 0:
            counts.add("POST /api/upload_profile_pic",
                       upload(url, tokens["access_token"], picture, f"s{index}-{step % 4}.png"))
        if step % 5 == 0:
            status, body = request(url + "/api/token/refresh", {"refresh_token": tokens["refresh_token"]})
            counts.add("POST /api/token/refresh", status)
            if status == 200:
                tokens = json.loads(body)
        if step % 20 == 0:
            status, _ = request(url + "/api/login", {"email": email, "password": PASSWORD})
            counts.add("POST /api/login", status)


def report(title, counts, seconds):
    total = sum(counts.by_route.values())
    errors = sum(n for (_, status), n in counts.by_route.items() if status >= 500)
    print(f"{title}: {total} requests in {seconds:.0f} s ({total / seconds:.0f} req/s), 5xx: {errors}")
    for (route, status), n in sorted(counts.by_route.items()):
        print(f"  {route:32} {status}  {n}")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    server = Server(os.path.abspath(args.binary), "sqlite://{dir}/auth.db", BCRYPT_COST=4)
    picture_path = os.path.join(server.dir, "storm.png")
    png(picture_path, 64, 64)
    with open(picture_path, "rb") as f:
        picture = f.read()
    try:
        counts = Counts()
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [threading.Thread(target=client, args=(server.url, picture, counts, deadline, i))
                   for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        errors = report(f"mixed load, {args.clients} clients, SQLite", counts, time.monotonic() - started)

        # One user's uploads, ten at a time, six rounds.
        _, tokens = account(server.url, "one")
        counts = Counts()
        started = time.monotonic()
        for round_ in range(6):
            batch = [threading.Thread(target=lambda i=i: counts.add(
                "POST /api/upload_profile_pic",
                upload(server.url, tokens["access_token"], picture, f"one-{round_}-{i}.png")))
                for i in range(10)]
            for thread in batch:
                thread.start()
            for thread in batch:
                thread.join()
        errors += report("one user, 10 concurrent uploads x 6", counts, time.monotonic() - started)
        stored = [name for name in os.listdir(os.path.join(server.dir, "uploads")) if not name.startswith(".")]
        print(f"pictures on disk afterwards: {len(stored)} (one per user that uploaded: {args.clients + 1})")
    finally:
        server.stop()
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
