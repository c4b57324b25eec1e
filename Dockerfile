# syntax=docker/dockerfile:1
# auth-service image: build with the Rust toolchain, run on slim Debian as a non-root user.

# ---- build: dependencies first (a layer that survives source edits), then the service ----
FROM rust:1.95-slim-bookworm AS build
# libpq and SQLite are compiled in (pq-sys and libsqlite3-sys "bundled"); libpq links OpenSSL
# for TLS to PostgreSQL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency-only layer: the manifests with stub targets, built with the same flags as below.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

COPY src ./src
COPY migrations ./migrations
COPY config ./config
# touch: the stubs above are newer than nothing cargo knows about; make sure ours rebuild.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && strip target/release/auth-service

# ---- runtime: only what the binary needs (OpenSSL for libpq's TLS, CA certificates) ----
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 auth \
 && useradd --system --uid 10001 --gid auth --home-dir /app --shell /usr/sbin/nologin auth \
 && mkdir -p /app/uploads /app/data \
 && chown auth:auth /app/uploads /app/data
WORKDIR /app
COPY --from=build /src/target/release/auth-service /usr/local/bin/auth-service
# config/default.toml is compiled in; production.toml is read from ./config when APP_ENV=production.
COPY config ./config

ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=5000 \
    UPLOAD_DIR=/app/uploads \
    RUST_LOG=info
# Pictures outlive the container (and are shared by replicas mounting the same volume).
VOLUME ["/app/uploads"]
USER auth:auth
EXPOSE 5000
# The binary checks its own /healthz: the image needs no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/auth-service", "healthcheck"]
# Exec form: the service is PID 1 and receives SIGTERM itself (graceful shutdown).
ENTRYPOINT ["/usr/local/bin/auth-service"]
