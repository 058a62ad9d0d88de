# Sluice container image (multi-stage).
#
#   docker build -t sluice .
#   docker run --rm -p 8080:8080 sluice                 # all-in-one, embedded redis-server
#   docker run --rm -e SLUICE_REDIS_URL=redis://host:6379/0 sluice run
#
# The Swift toolchain must be >= 6.2: several resolved dependencies (hummingbird,
# swift-log, async-http-client, ...) declare swift-tools-version 6.2, so a 6.0 image
# cannot even resolve the package. 6.3 matches the toolchain used in development.
ARG SWIFT_VERSION=6.3

# ---------------------------------------------------------------- build stage
FROM swift:${SWIFT_VERSION}-bookworm AS build

# CHiredis is a system library found through pkg-config (hiredis.pc).
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends libhiredis-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Resolve dependencies in their own layer, so it is cached until the manifest
# (or Package.resolved, when present) changes.
COPY ./Package.* ./
RUN swift package resolve \
      $([ -f ./Package.resolved ] && echo "--force-resolved-versions" || true)

COPY . .

# --static-swift-stdlib: the runtime stage is plain Debian without a Swift runtime.
RUN swift build -c release --product sluice --static-swift-stdlib \
 && mkdir -p /staging \
 && cp "$(swift build -c release --product sluice --static-swift-stdlib --show-bin-path)/sluice" /staging/sluice \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/swift-backtrace-static

# -------------------------------------------------------------- runtime stage
FROM debian:bookworm-slim

# libhiredis0.14: runtime half of libhiredis-dev (same Debian release as the build stage).
# redis-server: only used by `sluice serve` when SLUICE_REDIS_URL is unset (embedded mode).
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends \
      libhiredis0.14 libstdc++6 zlib1g ca-certificates tzdata redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --create-home --home-dir /var/lib/sluice sluice

COPY --from=build /staging/sluice /usr/local/bin/sluice
COPY --from=build /staging/swift-backtrace-static /usr/local/libexec/sluice/swift-backtrace-static

# Readable crash backtraces on stderr instead of a bare "Illegal instruction".
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/libexec/sluice/swift-backtrace-static
# Inside a container the API must listen on all interfaces (the default is 127.0.0.1).
ENV SLUICE_HOST=0.0.0.0 \
    SLUICE_PORT=8080

# The embedded redis-server keeps its data and AOF in ./.sluice (relative to this dir).
WORKDIR /var/lib/sluice
USER sluice:sluice

EXPOSE 8080
ENTRYPOINT ["sluice"]
CMD ["serve"]
