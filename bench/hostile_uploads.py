#!/usr/bin/env python3
"""What one hostile upload costs the service: CPU-seconds and peak resident memory of the
release binary for each of the review's pictures (issue 12, item 1: a 14 KiB GIF whose
4096x4095 canvas has 257 colours; a few-KiB lossless WebP of 4096x4096), the same at the
largest canvas still accepted, four WebPs at once, and an upload cut off by its deadline.
Each case runs on a fresh server, so its peak (VmHWM) is that case's; CPU is counted from the
request until the process has been idle for a second, so work that goes on after the answer
counts too. `.upload-*` files still in the folder when the answers have arrived are counted.

    bench/hostile_uploads.py --binary NAME=PATH [--binary NAME=PATH ...] --pictures DIR [--only TEXT]

Numbers are printed, never asserted.
"""
import argparse
import concurrent.futures
import os
import subprocess
import time

from bench import Server

TICKS = os.sysconf("SC_CLK_TCK")
CASES = [
    # name, file, uploads at once, UPLOAD_TIMEOUT_SECS
    ("GIF 4096x4095, 257 colours", "gif-257.gif", 1, 120),
    ("lossless WebP 4096x4096", "webp-lossless.webp", 1, 120),
    ("4 lossless WebP 4096x4096 at once", "webp-lossless.webp", 4, 120),
    ("GIF 3500x3500, 257 colours", "gif-257-legal.gif", 1, 120),
    ("lossless WebP 3500x3500", "webp-legal.webp", 1, 120),
    ("4 lossless WebP 3500x3500 at once", "webp-legal.webp", 4, 120),
    ("GIF 3500x3500, UPLOAD_TIMEOUT_SECS=1", "gif-257-legal.gif", 1, 1),
]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def temp_files(folder):
    return sum(1 for name in os.listdir(folder) if name.startswith(".upload-"))


def upload(url, token, path):
    started = time.perf_counter()
    name = os.path.basename(path)
    return subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
         "-F", f"profile_pic=@{path};filename={name}", url + "/api/upload_profile_pic"],
        capture_output=True, text=True, check=True).stdout, time.perf_counter() - started


def wait_idle(pid, quiet=1.0, limit=120):
    """Seconds until the process used no CPU for `quiet` seconds."""
    started = last_change = time.perf_counter()
    last = cpu_seconds(pid)
    while time.perf_counter() - started < limit:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now != last:
            last, last_change = now, time.perf_counter()
        elif time.perf_counter() - last_change >= quiet:
            break
    return last_change - started


def run_case(binary, pictures, case):
    title, file, at_once, timeout = case
    server = Server(binary, "sqlite://{dir}/auth.db", BCRYPT_COST=4, UPLOAD_TIMEOUT_SECS=timeout)
    try:
        token = server.token("hostile@example.com")
        folder = os.path.join(server.dir, "uploads")
        wait_idle(server.process.pid)
        idle_rss, cpu_before = server.rss(), cpu_seconds(server.process.pid)
        with concurrent.futures.ThreadPoolExecutor(at_once) as pool:
            answers = list(pool.map(lambda _: upload(server.url, token, os.path.join(pictures, file)),
                                    range(at_once)))
        left = temp_files(folder)
        busy_after = wait_idle(server.process.pid)
        cpu = cpu_seconds(server.process.pid) - cpu_before
        statuses = ",".join(sorted(status for status, _ in answers))
        answer_secs = max(secs for _, secs in answers)
        return (f"{title:36} {statuses:15} answer {answer_secs:6.2f} s  CPU {cpu:6.2f} s  "
                f"busy after answer {max(busy_after - 1.0, 0):5.1f} s  peak RSS {server.peak_rss():6.1f} MiB "
                f"(idle {idle_rss:4.1f})  temp files at answer {left}")
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--pictures", required=True)
    parser.add_argument("--only", default="", help="run the cases whose title contains this")
    args = parser.parse_args()
    binaries = [entry.split("=", 1) for entry in args.binary]
    for case in (case for case in CASES if args.only in case[0]):
        for name, path in binaries:
            print(f"{name:10} {run_case(path, args.pictures, case)}", flush=True)


if __name__ == "__main__":
    main()
