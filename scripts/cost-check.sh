#!/usr/bin/env bash
# The CI-sized cost check (part of `make test`): instructions per request of the hot routes,
# counted by callgrind on the debug build `make test` made, against bench/cost-baseline-debug.json.
# Fails when a route grows by more than 15% (TOLERANCE). See bench/README.md → bench/cost.
#
#   scripts/cost-check.sh                 # check
#   scripts/cost-check.sh --write         # record a new baseline (say why in the commit)
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY="$(swift build --show-bin-path)/sluice"
[[ -x "$BINARY" ]] || { echo "cost-check: $BINARY not built (swift build first)" >&2; exit 2; }
# Every route; not engine-s6 (its idle scans follow wall-clock time: not a stable check).
export BINARY REQUESTS="${REQUESTS:-20}" WARMUP="${WARMUP:-5}" \
    ROUTES="${ROUTES:-floor readyz get-instance checkpoint-latest checkpoint-list-100 approvals-page-50 save-checkpoint-1k create-instance decide-gate}"
if [[ "${1:-}" == --write ]]; then
    exec bench/cost --write-baseline bench/cost-baseline-debug.json
fi
exec bench/cost --check bench/cost-baseline-debug.json
