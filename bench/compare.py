#!/usr/bin/env python3
"""A/B of one endpoint between two builds of the service (bench/compare.sh builds them).

Both binaries run side by side on each backend, each on a database of its own; wrk drives one
scenario on one, then the other, alternating for several rounds, so both see the same machine:
`me`, `GET /` (an authenticated request: token check and the extractor's one query), or `login`,
`POST /api/login` (at bcrypt cost 4, so what is measured is everything around bcrypt: the
lookup, the session's transaction, the token). Prints every run and the median req/s of each,
as a ratio candidate / baseline.
"""
import argparse
import statistics

from bench import Server, wrk


def measure(label, server, token, seconds, scenario):
    if scenario == "login":
        result = wrk(server.url + "/api/login", 16, seconds, script="login.lua")
    else:
        result = wrk(server.url + "/", 16, seconds, headers=[f"Authorization: Bearer {token}"])
    print(f"  {label:9} {result['rps']:9.0f} req/s  p50 {result['p50']:.2f} ms  "
          f"p99 {result['p99']:.2f} ms  errors {result['errors']}", flush=True)
    assert result["errors"] == 0, "a non-2xx answer: the comparison would be meaningless"
    return result["rps"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--postgres-baseline-url", required=True)
    parser.add_argument("--postgres-candidate-url", required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenario", choices=["me", "login"], default="me")
    args = parser.parse_args()
    what = "POST /api/login" if args.scenario == "login" else "GET /"
    print(f"{what} A/B: wrk -t2 -c16, {args.seconds} s a run, {args.rounds} rounds, "
          "runs alternating, RATE_LIMIT_ENABLED=false")
    backends = [
        ("SQLite", "sqlite://{dir}/data/auth.db", "sqlite://{dir}/data/auth.db"),
        ("PostgreSQL", args.postgres_baseline_url, args.postgres_candidate_url),
    ]
    summary = []
    for name, baseline_url, candidate_url in backends:
        print(f"{name}:", flush=True)
        servers = {
            "baseline": Server(args.baseline, baseline_url, BCRYPT_COST=4),
            "candidate": Server(args.candidate, candidate_url, BCRYPT_COST=4),
        }
        try:
            # login.lua logs in as hot@example.com; `me` uses this user's token.
            tokens = {label: server.token("hot@example.com") for label, server in servers.items()}
            rps = {label: [] for label in servers}
            for round_ in range(args.rounds):
                order = ["baseline", "candidate"] if round_ % 2 == 0 else ["candidate", "baseline"]
                for label in order:
                    rps[label].append(
                        measure(label, servers[label], tokens[label], args.seconds, args.scenario)
                    )
        finally:
            for server in servers.values():
                server.stop()
        medians = {label: statistics.median(values) for label, values in rps.items()}
        summary.append((name, medians))
    print(f"\nmedian req/s of {what}:")
    for name, medians in summary:
        ratio = medians["candidate"] / medians["baseline"]
        print(f"  {name:10} baseline {medians['baseline']:8.0f}  candidate {medians['candidate']:8.0f}"
              f"  ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
