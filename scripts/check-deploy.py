#!/usr/bin/env python3
"""Checks the deployment files by what can run without a Docker engine.

1. Reads docker-compose.yml, Dockerfile, .dockerignore and .env.example and checks what they
   promise operators (services, healthchecks, depends_on condition, volumes, no committed
   secret, the image's stages, user, port, healthcheck and exec-form entrypoint).
2. With --binary and --postgres-url: starts the release binary (built with the Dockerfile's
   flags) with the compose file's environment for `auth`, pointed at the given PostgreSQL
   server instead of the `db` container, checks /readyz and the image's HEALTHCHECK command,
   then stops it with SIGTERM and expects exit code 0.
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import yaml
except ImportError:  # PyYAML is on these machines; install it where it is not.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyyaml"], check=True)
    import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_FLAGS = "cargo build --release --locked"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY", re.I)
REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def env_file(text):
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def interpolate(value, variables):
    """docker compose's ${VAR}, ${VAR:-default} and ${VAR:?error}."""

    def one(match):
        name, op, arg = match.groups()
        value = variables.get(name, "")
        if op in (":?", "?") and not value:
            raise SystemExit(f"compose needs {name}: {arg}")
        if op in (":-", "-") and not value:
            return arg
        return value

    return REFERENCE.sub(one, str(value))


def check_files():
    compose = yaml.safe_load(read("docker-compose.yml"))
    services = compose.get("services", {})
    check(set(services) >= {"db", "auth"}, "compose has services db and auth")
    db, auth = services.get("db", {}), services.get("auth", {})
    named_volumes = set((compose.get("volumes") or {}).keys())

    image = db.get("image", "")
    version = re.match(r"postgres:(\d+)", image)
    check(version and int(version.group(1)) >= 15, f"db runs postgres 15 or newer ({image})")
    test = " ".join(db.get("healthcheck", {}).get("test", []))
    check("pg_isready" in test, "db has a pg_isready healthcheck")
    db_volumes = [v.split(":") for v in db.get("volumes", [])]
    check(any(v[0] in named_volumes and v[1] == "/var/lib/postgresql/data" for v in db_volumes),
          "db keeps its data on a named volume")

    check("build" in auth, "auth is built from the Dockerfile")
    depends = auth.get("depends_on", {})
    check(isinstance(depends, dict) and depends.get("db", {}).get("condition") == "service_healthy",
          "auth depends on db: condition service_healthy")
    env = auth.get("environment", {})
    check(env.get("APP_ENV") == "production", "auth runs with APP_ENV=production")
    check("@db:" in env.get("DATABASE_URL", ""), "auth's DATABASE_URL points at db")
    for name, value in list(env.items()) + list(db.get("environment", {}).items()):
        if SECRET_NAME.search(name):
            refs = REFERENCE.findall(str(value))
            # Required (:?), or optional with an empty default (:-): never a committed value.
            check(refs and all(op in (":?", "?") or (op == ":-" and not arg) for _, op, arg in refs)
                  and not REFERENCE.sub("", str(value)),
                  f"{name} comes from .env, with no committed value or default")
    check(re.search(r"://\w+:\$\{\w+:\?[^}]*\}@", env.get("DATABASE_URL", "")),
          "DATABASE_URL's password comes from .env")
    upload_dir = env.get("UPLOAD_DIR")
    auth_volumes = [v.split(":") for v in auth.get("volumes", [])]
    check(any(v[0] in named_volumes and v[1] == upload_dir for v in auth_volumes),
          f"uploads ({upload_dir}) are on a named volume")
    ports = [str(p) for p in auth.get("ports", [])]
    check(not ports and "5000" in [str(p) for p in auth.get("expose", [])],
          f"auth publishes no port: it is reached through nginx ({ports})")
    check_nginx(compose, services, env)
    check_s3(services, env)
    check(auth.get("read_only") is True, "auth's root file system is read-only")
    check(auth.get("cap_drop") == ["ALL"], "auth drops every capability")
    check("no-new-privileges:true" in auth.get("security_opt", []), "auth cannot gain privileges")
    check(all(name in env for name in ["SMTP_URL", "MAIL_FROM", "APP_URL", "REQUIRE_EMAIL_VERIFICATION"]),
          "compose passes the mail settings through (SMTP_URL, MAIL_FROM, APP_URL, REQUIRE_EMAIL_VERIFICATION)")
    check("MFA_ENCRYPTION_KEY" in env, "compose passes MFA_ENCRYPTION_KEY through")
    mailpit = services.get("mailpit", {})
    check(mailpit.get("profiles") == ["mail"] and "mailpit" in mailpit.get("image", ""),
          "a mail catcher (mailpit) runs only with --profile mail")
    check(all(str(p).startswith("127.0.0.1:") for p in mailpit.get("ports", [])),
          "the mail catcher's inbox is bound to 127.0.0.1")
    grace = int(str(auth.get("stop_grace_period", "10s")).rstrip("s"))
    check(grace > int(env.get("SHUTDOWN_TIMEOUT_SECS", "30")),
          "stop_grace_period outlasts SHUTDOWN_TIMEOUT_SECS")

    prometheus = services.get("prometheus", {})
    check(prometheus.get("profiles") == ["metrics"],
          "prometheus runs only with --profile metrics (off by default)")
    mounted = [v.split(":") for v in prometheus.get("volumes", [])]
    config_mounts = [v for v in mounted if v[1] == "/etc/prometheus/prometheus.yml"]
    check(config_mounts and os.path.exists(os.path.join(ROOT, config_mounts[0][0])),
          "prometheus gets its scrape config from the repository")
    scrape = yaml.safe_load(read("config/prometheus.yml"))["scrape_configs"][0]
    dns = scrape.get("dns_sd_configs", [{}])[0]
    metrics_port = interpolate(env.get("METRICS_ADDR", ""), {}).rsplit(":", 1)[-1]
    check(metrics_port.isdigit() and not any(p.endswith(":" + metrics_port) for p in ports),
          f"auth serves /metrics on a listener of its own, not published ({metrics_port})")
    check(dns.get("names") == ["auth"] and str(dns.get("port")) == metrics_port,
          f"prometheus scrapes every auth replica (DNS service discovery of `auth`, port {metrics_port})")

    example = env_file(read(".env.example"))
    check(set(example) >= {"JWT_SECRET", "POSTGRES_PASSWORD"} and not any(example.values()),
          ".env.example names the secrets and commits no value")
    required = {name for value in env.values() for name, op, _ in REFERENCE.findall(str(value))
                if op in (":?", "?")}
    check(required <= set(example), f".env.example names every variable compose requires ({sorted(required)})")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    check(ignored, ".env is git-ignored")
    dockerignore = read(".dockerignore").split()
    check(all(p in dockerignore for p in ["target/", "data/", "uploads/", ".env"]),
          ".dockerignore keeps target/, data/, uploads/ and .env out of the build context")

    dockerfile = read("Dockerfile")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    check(len(stages) >= 2, f"Dockerfile is multi-stage ({stages})")
    check(dockerfile.count(BUILD_FLAGS) >= 2,
          f"Dockerfile builds dependencies, then the service, with `{BUILD_FLAGS}`")
    check("slim" in stages[-1][0], f"runtime stage is slim Debian ({stages[-1][0]})")
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    check(users and users[-1].split(":")[0] not in ("root", "0"), f"runs as non-root ({users})")
    check(re.search(r"^EXPOSE\s+5000\b", dockerfile, re.M), "exposes 5000")
    healthcheck = re.search(r"^HEALTHCHECK.*?CMD\s+(\[.*?\])", dockerfile, re.M | re.S)
    check(healthcheck, "declares a HEALTHCHECK")
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])", dockerfile, re.M)
    check(entrypoint, "starts the binary in exec form")

    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:
        with tempfile.NamedTemporaryFile("w", suffix=".env") as f:
            f.write("JWT_SECRET=" + "x" * 64 + "\nPOSTGRES_PASSWORD=p\n"
                    "PUBLIC_URL=https://auth.example.com\nCORS_ALLOWED_ORIGINS=https://www.example.com\n"
                    "SMTP_URL=smtp://mailpit:1025\nWEBAUTHN_RP_ID=example.com\n"
                    "WEBAUTHN_ORIGINS=https://www.example.com\n")
            f.flush()
            result = subprocess.run(["docker", "compose", "--env-file", f.name, "config", "-q"],
                                    cwd=ROOT, capture_output=True, text=True)
        check(result.returncode == 0, f"docker compose config parses the file {result.stderr}")
    else:
        print("note docker compose plugin not installed: `docker compose config` not run")

    return env, json.loads(healthcheck.group(1)) if healthcheck else None


def check_nginx(compose, services, env):
    nginx = services.get("nginx", {})
    check("nginx" in nginx.get("image", ""), f"an nginx service fronts auth ({nginx.get('image')})")
    nginx_ports = [str(p) for p in nginx.get("ports", [])]
    check(nginx_ports == ["127.0.0.1:5000:8080"],
          f"nginx publishes port 5000 on 127.0.0.1 only, for a TLS proxy in front ({nginx_ports})")
    mounts = [v.split(":") for v in nginx.get("volumes", [])]
    conf = [v for v in mounts if v[1] == "/etc/nginx/nginx.conf"]
    check(conf and os.path.exists(os.path.join(ROOT, conf[0][0])) and conf[0][2:] == ["ro"],
          "nginx gets its configuration from the repository, read-only")
    address = nginx.get("networks", {}).get("default", {}).get("ipv4_address")
    subnets = [c.get("subnet") for c in compose.get("networks", {}).get("default", {})
               .get("ipam", {}).get("config", [])]
    check(address and any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in subnets),
          f"nginx has a fixed address in the compose network ({address} in {subnets})")
    trusted = interpolate(str(env.get("TRUSTED_PROXIES", "")), {}).split(",")
    # Docker's gateway on the network: where a TLS proxy on the host reaches the published port.
    gateway = str(next(ipaddress.ip_network(subnets[0]).hosts())) if subnets else None
    check(trusted == [address, gateway],
          f"auth trusts nginx and the gateway a proxy on the host comes from (TRUSTED_PROXIES={trusted})")
    check(nginx.get("read_only") is True and nginx.get("cap_drop") == ["ALL"],
          "nginx runs read-only with no capability")
    text = read("config/nginx.conf")
    check("$proxy_add_x_forwarded_for" in text and "http://auth:5000" in text and "resolver 127.0.0.11" in text,
          "nginx forwards the client's address to every auth replica, found by Docker's DNS")
    size = re.search(r"client_max_body_size\s+(\d+)m;", text)
    check(size and int(size.group(1)) * 1024 * 1024 > 5242880,
          "nginx lets an upload of MAX_UPLOAD_BYTES through (auth answers 413 itself)")
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if binary is None:
        check(False, "nginx is installed to test config/nginx.conf (apt-get install nginx-light)")
        return
    result = subprocess.run([binary, "-t", "-q", "-c", os.path.join(ROOT, "config/nginx.conf")],
                            capture_output=True, text=True)
    check(result.returncode == 0, f"nginx -t accepts config/nginx.conf {result.stderr.strip()}")


def check_s3(services, env):
    names = ["STORAGE", "S3_BUCKET", "S3_ENDPOINT", "S3_REGION", "S3_PREFIX", "S3_FORCE_PATH_STYLE",
             "S3_PUBLIC_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    check(all(name in env for name in names), "compose passes the storage settings through (STORAGE, S3_*, AWS_*)")
    check(interpolate(str(env.get("STORAGE", "")), {}) == "fs", "pictures stay on the uploads volume unless STORAGE=s3")
    server, bucket = services.get("rustfs", {}), services.get("rustfs-bucket", {})
    check(server.get("profiles") == ["s3"] and "rustfs/rustfs:" in server.get("image", ""),
          "an S3-compatible server (RustFS) runs only with --profile s3")
    check(not server.get("ports"), "the S3 server publishes no port")
    check(any(v.split(":")[1] == "/data" for v in server.get("volumes", [])), "the S3 server keeps its objects on a volume")
    check(bucket.get("profiles") == ["s3"]
          and bucket.get("depends_on", {}).get("rustfs", {}).get("condition") == "service_healthy"
          and "create-bucket" in " ".join(bucket.get("command", [])),
          "--profile s3 makes the bucket once the S3 server is healthy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


def run_like_compose(binary, postgres_url, compose_env, healthcheck_cmd):
    variables = dict(env_file(read(".env.example")))
    # What an operator fills in .env.example's empty values with.
    variables.update(JWT_SECRET=os.urandom(32).hex(), POSTGRES_PASSWORD="unused-with-trust-auth",
                     PUBLIC_URL="https://auth.example.com",
                     CORS_ALLOWED_ORIGINS="https://www.example.com",
                     WEBAUTHN_RP_ID="example.com", WEBAUTHN_ORIGINS="https://www.example.com",
                     # Nothing listens there: messages wait in the outbox, and nothing else
                     # depends on the mail server.
                     SMTP_URL="smtp://127.0.0.1:9")
    env = {name: interpolate(value, variables) for name, value in compose_env.items()}
    # The same URL, with the compose network's `db` replaced by the local server.
    server, _ = postgres_url.rsplit("/", 1)
    local = re.sub(r"^postgres(ql)?://[^/]*", server.replace("\\", "\\\\"), env["DATABASE_URL"])
    env["DATABASE_URL"] = local
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        # As in the image: WORKDIR holds config/, UPLOAD_DIR is a volume.
        shutil.copytree(os.path.join(ROOT, "config"), os.path.join(workdir, "config"))
        metrics_port = free_port()
        env.update(PORT=str(port), UPLOAD_DIR=os.path.join(workdir, "uploads"),
                   METRICS_ADDR=f"127.0.0.1:{metrics_port}")
        shown = {k: ("<set>" if SECRET_NAME.search(k) else v) for k, v in env.items()}
        print(f"starting {binary} with the compose environment: {shown}")
        env["PATH"] = os.environ["PATH"]
        process = subprocess.Popen([binary], cwd=workdir, env=env)
        try:
            status = None
            for _ in range(300):
                status, body = get(f"http://127.0.0.1:{port}/readyz")
                if status == 200 or process.poll() is not None:
                    break
                time.sleep(0.1)
            ready = {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}
            check(status == 200 and json.loads(body) == ready,
                  f"/readyz answers 200 {json.dumps(ready)} with the compose environment ({status})")
            public, _ = get(f"http://127.0.0.1:{port}/metrics")
            internal, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
            check(public == 404 and internal == 200 and b"http_requests_total" in text,
                  f"/metrics: 404 on the public port, served on METRICS_ADDR ({public}, {internal})")
            if healthcheck_cmd:
                cmd = [binary if part.endswith("/auth-service") else part for part in healthcheck_cmd]
                result = subprocess.run(cmd, cwd=workdir, env=env)
                check(result.returncode == 0, f"the image's HEALTHCHECK ({' '.join(healthcheck_cmd)}) passes")
            process.send_signal(signal.SIGTERM)
            check(process.wait(timeout=60) == 0, "SIGTERM stops it with exit code 0")
        finally:
            if process.poll() is None:
                process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    parser.add_argument("--postgres-url", help="a database the service may create tables in")
    args = parser.parse_args()
    compose_env, healthcheck_cmd = check_files()
    if args.binary and args.postgres_url:
        run_like_compose(args.binary, args.postgres_url, compose_env, healthcheck_cmd)
    if failures:
        sys.exit(f"check-deploy: {len(failures)} check(s) failed")
    print("check-deploy: all checks passed")


if __name__ == "__main__":
    main()
