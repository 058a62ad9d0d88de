#!/usr/bin/env bash
# make fuzz: schemathesis against a running `sluice serve`, driven by openapi.yaml.
#
#   FUZZ=short (default)  bounded: every route, FUZZ_EXAMPLES (25) cases per route, FUZZ_TIME (240) s at most
#   FUZZ=long             FUZZ_EXAMPLES (500) cases per route, every phase, FUZZ_TIME (1800) s at most
#
# Passes when: no 5xx, every response (error bodies included) matches the document's schema,
# status code and content type (schemathesis's not_a_server_error, response_schema_conformance,
# status_code_conformance, content_type_conformance); the server process is still alive at
# the end; and `sluice check` then finds no inconsistency in what the run left in Redis.
# Everything lives in .build-fuzz/ (the venv, a private redis-server, logs, the report).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${FUZZ:-short}
case "$MODE" in
  short) EXAMPLES=${FUZZ_EXAMPLES:-25};  MAX_TIME=${FUZZ_TIME:-240};  PHASES=${FUZZ_PHASES:-examples,coverage,fuzzing} ;;
  long)  EXAMPLES=${FUZZ_EXAMPLES:-500}; MAX_TIME=${FUZZ_TIME:-1800}; PHASES=${FUZZ_PHASES:-examples,coverage,fuzzing,stateful} ;;
  *) echo "FUZZ must be short or long (got '$MODE')" >&2; exit 2 ;;
esac
PORT=${FUZZ_PORT:-18089}
WORK=.build-fuzz
RUN="$WORK/run"
SWIFT=${SWIFT:-swift}

# schemathesis in a venv of our own (kept out of git by .gitignore's .build-*/).
if [ ! -x "$WORK/venv/bin/st" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

if [ -z "${FUZZ_BIN:-}" ]; then
  $SWIFT build --product sluice
  FUZZ_BIN="$($SWIFT build --show-bin-path)/sluice"
fi

rm -rf "$RUN"; mkdir -p "$RUN"
RUN_ABS="$(cd "$RUN" && pwd)"
SERVER_PID=""; REDIS_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$RUN_ABS/redis.sock" --dir "$RUN_ABS" --save '' --appendonly no \
  --logfile "$RUN_ABS/redis.log" &
REDIS_PID=$!
for _ in $(seq 50); do [ -S "$RUN_ABS/redis.sock" ] && break; sleep 0.1; done

export SLUICE_REDIS_URL="unix://$RUN_ABS/redis.sock" SLUICE_KEY_PREFIX=fuzz SLUICE_PORT=$PORT SLUICE_HOST=127.0.0.1
export SLUICE_SSE_KEEPALIVE_SECONDS=1 SLUICE_LOG_LEVEL=${SLUICE_LOG_LEVEL:-warning}
"$FUZZ_BIN" serve > "$RUN/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$BASE/readyz" > /dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" > /dev/null || { echo "sluice serve did not become ready; see $RUN/server.log" >&2; exit 1; }

# A little real data, so that generated ids sometimes hit something: a sequence with a gate
# and a worker step, and instances waiting on the gate.
curl -sf "$BASE/sequences" -H 'content-type: application/json' -d '{"id": "fuzz", "tenant_id": "t", "namespace": "n",
  "blocks": [{"id": "gate", "type": "human_input", "prompt": "ok?"}, {"id": "work", "type": "step", "handler": "fuzz-worker"}]}' > /dev/null
for i in 1 2 3; do
  curl -sf "$BASE/instances" -H 'content-type: application/json' -d "{\"sequence_id\": \"fuzz\", \"id\": \"fuzz-$i\"}" > /dev/null
done

echo "fuzz: FUZZ=$MODE, $EXAMPLES examples per route, at most ${MAX_TIME}s, phases $PHASES, against $BASE"
STATUS=0
# A worker poll may wait 30 s, hence the 40 s request timeout. schemathesis reads each
# response to its end. An instance stream of an unknown id ends at
# once, but the approvals stream never ends by design: scripts/fuzz_streams.py fuzzes that
# route with the same generated inputs, reading only the head of a 200.
"$WORK/venv/bin/st" run openapi.yaml \
  --url "$BASE" --exclude-path /approvals/stream \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases "$PHASES" --max-examples "$EXAMPLES" --max-time "$MAX_TIME" \
  --request-timeout 40 --workers 1 --seed "${FUZZ_SEED:-7}" --continue-on-failure \
  --suppress-health-check all --warnings off \
  --report junit,ndjson --report-dir "$RUN/report" || STATUS=$?
"$WORK/venv/bin/python" scripts/fuzz_streams.py openapi.yaml "$BASE" /approvals/stream "$EXAMPLES" || STATUS=1

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL: sluice serve died during the run; see $RUN/server.log" >&2
  STATUS=1
fi
# Check what the run left behind with the engine stopped, so nothing moves under the check.
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
echo "fuzz: sluice check"
"$FUZZ_BIN" check || STATUS=1
echo "fuzz: the server's log: $RUN/server.log; reports: $RUN/report"
[ "$STATUS" -eq 0 ] && echo "fuzz: PASS" || echo "fuzz: FAIL"
exit "$STATUS"
