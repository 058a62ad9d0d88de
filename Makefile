# Sluice: the two set-up commands are `make run` and `make test`; both install missing
# Debian packages first (apt-get, as root or through sudo).
SWIFT    ?= swift
PACKAGES := redis-server redis-tools libhiredis-dev pkg-config docker-compose
BIN       = $(shell $(SWIFT) build --show-bin-path)

.PHONY: deps build run test bench fuzz check clean

deps:
	@scripts/install-deps.sh $(PACKAGES)

build: deps
	$(SWIFT) build --product sluice

# Starts the API, runner and sweeper with an embedded redis-server under ./.sluice/
# (set SLUICE_REDIS_URL to use another Redis). Ctrl-C stops both.
run: build
	$(BIN)/sluice serve

# The whole suite, then the server suite again with API keys on (SLUICE_TEST_AUTH=1: every
# test's application requires a key and its clients send one), so access control is proven
# not to break any behaviour, and once more on a local Redis Cluster (SLUICE_TEST_REDIS=cluster:
# 3 primaries + 3 replicas started by the tests; redis-cli comes from redis-tools).
test: deps
	scripts/check-compose.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	SLUICE_TEST_AUTH=1 $(SWIFT) test --skip-build --filter SluiceServerTests
	SLUICE_TEST_REDIS=cluster $(SWIFT) test --skip-build --filter SluiceServerTests

# Benchmarks also need wrk (bench/engine); redis-benchmark comes with redis-server.
bench:
	@scripts/install-deps.sh $(PACKAGES) wrk python3
	bench/redis-client
	bench/engine
	bench/sse
	bench/checkpoints
	bench/approvals

# schemathesis against `sluice serve` with openapi.yaml, then `sluice check`: FUZZ=short
# (default, bounded) or FUZZ=long. See README → Fuzzing. Needs python3 (venv in .build-fuzz/).
fuzz: deps
	FUZZ=$(or $(FUZZ),short) scripts/fuzz.sh

clean:
	rm -rf .build .build-bench .build-fuzz .sluice
