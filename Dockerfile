# syntax=docker/dockerfile:1
#
# The one image of hookstream: the `hookstream` binary, whose first argument picks the
# service (`api`, `capture`, `dispatch`, `dev`, `sink`, `keys`, `config`).
#
#   docker build -t hookstream .
#   docker run --rm hookstream --help
#
# RUST_VERSION pins the toolchain (e.g. --build-arg RUST_VERSION=1.88); the workspace
# needs at least its rust-version (Cargo.toml).
ARG RUST_VERSION=1

# ---- build --------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder

# rdkafka builds its bundled librdkafka from source: a C toolchain and make for its
# ./configure build (cmake only if the `cmake-build` feature is ever switched on),
# pkg-config and zlib headers for libz-sys. No OpenSSL: librdkafka is built without TLS
# and reqwest uses rustls.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
# hookstream-model compiles the Avro schemas in (include_str! of ../../../schemas/*.avsc).
COPY schemas/ schemas/

RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --release -p hookstream --locked \
 && cp target/release/hookstream /usr/local/bin/hookstream

# ---- run ----------------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates for HTTPS webhook endpoints, curl for container health checks.
# (zlib1g, which the binary links, is part of every Debian image.)
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A non-root user owning /data, where the sled views live. The directories exist in the
# image so that a named volume mounted on one of them starts out owned by this user.
RUN groupadd --system --gid 10001 hookstream \
 && useradd --system --uid 10001 --gid hookstream --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin hookstream \
 && mkdir -p /data/api /data/dispatch \
 && chown -R hookstream:hookstream /data

COPY --from=builder /usr/local/bin/hookstream /usr/local/bin/hookstream

USER 10001:10001
WORKDIR /data
# Defaults for the image; any HOOKSTREAM_<SECTION>__<KEY> can be overridden at run time.
ENV HOOKSTREAM_API__DATA_DIR=/data/api \
    HOOKSTREAM_DISPATCH__DATA_DIR=/data/dispatch

# api, capture, dispatch (health and metrics).
EXPOSE 8080 8081 8082

ENTRYPOINT ["hookstream"]
CMD ["--help"]
