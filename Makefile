# Sluice: the two set-up commands are `make run` and `make test`; both install missing
# Debian packages first (apt-get, as root or through sudo).
SWIFT    ?= swift
PACKAGES := redis-server redis-tools libhiredis-dev pkg-config docker-compose
# The console's browser tests (Tests/browser): headless Chromium driven by Selenium.
BROWSER_PACKAGES := chromium chromium-driver python3-selenium
BIN       = $(shell $(SWIFT) build --show-bin-path)

.PHONY: deps build run test bench fuzz check clean fleet-up fleet-down faults

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
# 3 primaries + 3 replicas started by the tests; redis-cli comes from redis-tools). Then the
# console in a real browser against the built binary, and the CI-sized cost check (callgrind
# instructions per request of the hot routes against bench/cost-baseline-debug.json, +15% fails).
# The cluster pass runs at most TEST_WIDTH tests at once: 6 cluster nodes, the fault tests' own
# 6 and ~160 tests all at once on 2 cores stretched 3 s worker leases past their completes.
TEST_WIDTH ?= 8
test: deps
	@scripts/install-deps.sh $(BROWSER_PACKAGES) valgrind gcc binutils
	scripts/check-compose.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	SLUICE_TEST_AUTH=1 $(SWIFT) test --skip-build --filter SluiceServerTests
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(TEST_WIDTH) SLUICE_TEST_REDIS=cluster $(SWIFT) test --skip-build --filter SluiceServerTests
	Tests/browser/run.sh $(BIN)/sluice
	scripts/cost-check.sh

# Benchmarks also need wrk (bench/engine); redis-benchmark comes with redis-server, redis-cli
# (bench/cluster's `--cluster create`) with redis-tools.
bench:
	@scripts/install-deps.sh $(PACKAGES) wrk python3 valgrind gcc binutils
	bench/redis-client
	bench/reads
	bench/cost
	bench/engine
	bench/sse
	bench/checkpoints
	bench/approvals
	bench/cluster

# schemathesis against `sluice serve` with openapi.yaml, then `sluice check`: FUZZ=short
# (default, bounded) or FUZZ=long. See README → Fuzzing. Needs python3 (venv in .build-fuzz/).
fuzz: deps
	FUZZ=$(or $(FUZZ),short) scripts/fuzz.sh

# A scaled-out fleet on loopback (deploy/fleet): Redis (AOF everysec), 3 API nodes, 2 runners,
# 2 sweepers, nginx with deploy/nginx.conf in front. Release build (.build-release). Prints the URL.
fleet-up: deps
	@scripts/install-deps.sh $(PACKAGES) nginx python3
	deploy/fleet up

fleet-down:
	deploy/fleet down

# The fault scenarios (README → Faults) against a fleet of their own: starts it, runs every
# scenario (one PASS/FAIL line each), stops it; exits non-zero when any failed. Slow (minutes):
# not part of `make test`. FAULTS="r1 r2" runs some.
faults: deps
	@scripts/install-deps.sh $(PACKAGES) nginx python3
	bench/faults/run $(FAULTS)

clean:
	rm -rf .build .build-bench .build-fuzz .build-release .sluice .fleet
