#!/usr/bin/env python3
"""Guessing at one account as the round-3 review did, against a running service with the default
limits: what the attempt budget lets through, in numbers. Not a test (nothing is asserted); the
numbers go into the issue's note beside the review's "before".

    bench/guessing.py URL MAIL_DIR

The service must trust 127.0.0.1 as a proxy (TRUSTED_PROXIES=127.0.0.1), so that each request can
name a fresh client in X-Forwarded-For, and write mail to MAIL_DIR (SMTP_URL unset), where the
verification code is read from. Each run registers new accounts.
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.request

BASE, MAIL_DIR = sys.argv[1], sys.argv[2]
PASSWORD = "correct horse battery"
RUN = f"{os.getpid()}-{int(time.time())}"


def call(method, path, body=None, token=None, client=None):
    request = urllib.request.Request(BASE + path, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if client:
        request.add_header("X-Forwarded-For", client)
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(request, data, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def totp(secret, offset=0):
    key = base64.b32decode(secret)
    counter = int(time.time()) // 30 + offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 15
    return f"{(struct.unpack('>I', digest[start:start + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def wrong(code):
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def fresh_64(i):
    """A fresh /64 of one /48 (this run's) for each i."""
    return f"2001:db8:{os.getpid() & 0xFFFF:x}:{i & 0xFFFF:x}::1"


def mailed_code(email, subject_word):
    for _ in range(200):
        for name in sorted(os.listdir(MAIL_DIR)):
            text = open(os.path.join(MAIL_DIR, name), errors="replace").read()
            if email in text and subject_word in text:
                return re.search(r"code: (\d{6})", text).group(1)
        time.sleep(0.05)
    raise RuntimeError(f"no {subject_word} message to {email} in {MAIL_DIR}")


def account(tag, verified=False):
    """A new account: its email and an access token (its address proved when `verified`)."""
    email = f"{tag}-{RUN}@example.com"
    assert call("POST", "/api/register", {"name": "Target", "email": email, "password": PASSWORD})[0] == 201
    if verified:
        code = mailed_code(email, "verify")
        assert call("POST", "/api/email/verify", {"email": email, "code": code})[0] == 200
    token = call("POST", "/api/login", {"email": email, "password": PASSWORD})[1]["access_token"]
    return email, token


def with_mfa(tag):
    email, token = account(tag, verified=True)
    secret = call("POST", "/api/mfa/totp", {"password": PASSWORD}, token)[1]["secret"]
    assert call("POST", "/api/mfa/totp/confirm", {"code": totp(secret)}, token)[0] == 200
    return email, secret


def tally(statuses):
    counts = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return " ".join(f"{count}x{status}" for status, count in sorted(counts.items()))


def for_seconds(seconds, attempt):
    statuses, started, i = [], time.time(), 0
    while time.time() - started < seconds:
        i += 1
        statuses.append(attempt(i))
    return statuses


def password_from_one_site(seconds):
    email, _ = account("pw")
    guess = lambda i: call("POST", "/api/login", {"email": email, "password": f"guess {i:08d}"}, client=fresh_64(i))[0]
    statuses = for_seconds(seconds, guess)
    checked = statuses.count(401)
    print(f"1. wrong passwords, a fresh /64 of one /48 each, {seconds} s: {tally(statuses)}: "
          f"{checked} checked (review: ~320 a minute, for ever)")


def totp_from_fresh_networks(seconds):
    email, secret = with_mfa("totp")

    def guess(i):
        client = fresh_64(10_000 + i)
        status, body = call("POST", "/api/login", {"email": email, "password": PASSWORD}, client=client)
        if status != 200:
            return f"login {status}"
        return call("POST", "/api/login/mfa", {"mfa_token": body["mfa_token"], "code": wrong(totp(secret))}, client=client)[0]

    statuses = for_seconds(seconds, guess)
    checked = statuses.count(401)
    print(f"1. wrong TOTP codes (password known), a fresh /64 each, {seconds} s: {tally(statuses)}: "
          f"{checked} checked (review: ~267 a minute per /48)")
    client = fresh_64(60_000)
    token = call("POST", "/api/login", {"email": email, "password": PASSWORD}, client=client)[1]["mfa_token"]
    status, _ = call("POST", "/api/login/mfa", {"mfa_token": token, "code": totp(secret)}, client=client)
    print(f"   then the right code from another fresh /64: {status} (review: 200 aal2)")


def burst(n):
    email, _ = account("burst")
    attempt = lambda i: call("POST", "/api/login", {"email": email, "password": f"wrong {i}"}, client="198.51.100.77")[0]
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(attempt, range(n)))
    print(f"2. {n} concurrent wrong passwords from one address: {tally(statuses)} (review: 18x401, limit 5)")


def enrolment_guesses(seconds):
    _, unverified = account("unverified")
    status, body = call("POST", "/api/mfa/totp", {"password": PASSWORD}, unverified)
    print(f"10. enrolment on an unverified address: {status} {body['message']}")
    _, token = account("enrol", verified=True)
    secret = call("POST", "/api/mfa/totp", {"password": PASSWORD}, token)[1]["secret"]
    guess = lambda i: call("POST", "/api/mfa/totp/confirm", {"code": wrong(totp(secret))}, token)[0]
    statuses = for_seconds(seconds, guess)
    print(f"3. wrong enrolment codes through one access token, {seconds} s: {tally(statuses)}: "
          f"{statuses.count(400)} checked (review: 864 a second)")


def mailed_codes(seconds):
    email, _ = account("mailed")

    def guess(i):
        client = f"203.0.{(i // 200) & 255}.{i % 200 + 1}"
        if i % 5 == 1:
            call("POST", "/api/password/forgot", {"email": email}, client=client)
        body = {"email": email, "code": f"{i:06d}", "new_password": "another long passphrase"}
        return call("POST", "/api/password/reset", body, client=client)[0]

    statuses = for_seconds(seconds, guess)
    print(f"5. wrong reset codes, new codes asked for along the way, fresh addresses, {seconds} s: "
          f"{tally(statuses)}: {statuses.count(400)} checked (review: 60 over four windows, ~1,440 a day)")


def main():
    seconds = int(os.environ.get("SECONDS_EACH", "30"))
    password_from_one_site(seconds)
    totp_from_fresh_networks(seconds)
    burst(18)
    enrolment_guesses(seconds)
    mailed_codes(seconds)


if __name__ == "__main__":
    main()
