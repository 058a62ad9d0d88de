#!/usr/bin/env bash
# The console in a real browser (part of `make test`): starts a private redis-server and the
# built `sluice serve` with API keys, then drives headless Chromium through Selenium
# (console_test.py). Screenshots of each page go to .build/console-screenshots/.
#
# Needs chromium, chromium-driver and python3-selenium (Debian; `make test` installs them) and a
# build. Usage: Tests/browser/run.sh [path/to/sluice]   (default: the debug build's)
# (Not an environment variable: `sluice serve` refuses SLUICE_* names it does not know.)
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-$(swift build --show-bin-path)/sluice}
[[ -x "$BIN" ]] || { echo "browser: no sluice binary at $BIN (run swift build first)" >&2; exit 1; }
SHOTS=.build/console-screenshots
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png  # only this run's pictures
RUN=$(mktemp -d "${TMPDIR:-/tmp}/sluice-browser.XXXXXX")
pids=()
cleanup() {
    # Only the processes this script started, by their ids.
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP_RUN:-0} == 1 ]]; then echo "browser: run folder kept at $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$RUN/redis.sock" --dir "$RUN" --save '' --appendonly no > "$RUN/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -S "$RUN/redis.sock" ]] && break; sleep 0.1; done

# Random keys for this run: an admin and a tenant-free approver.
ADMIN_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
APPROVER_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$RUN/keys.json" <<JSON
[{"name": "ops-admin", "key": "$ADMIN_KEY", "role": "admin"},
 {"name": "alice-key", "key": "$APPROVER_KEY", "role": "approver"}]
JSON
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

SLUICE_REDIS_URL="unix://$RUN/redis.sock" SLUICE_KEY_PREFIX=browser SLUICE_PORT=$PORT SLUICE_HOST=127.0.0.1 \
SLUICE_API_KEYS_FILE="$RUN/keys.json" SLUICE_LOG_LEVEL=${SLUICE_LOG_LEVEL:-warning} SLUICE_SSE_KEEPALIVE_SECONDS=2 \
    "$BIN" serve > "$RUN/server.log" 2>&1 &
pids+=($!)
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$BASE/readyz" > /dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" > /dev/null || { echo "browser: sluice serve did not become ready" >&2; cat "$RUN/server.log" >&2; exit 1; }

status=0
PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 Tests/browser/console_test.py --base "$BASE" --admin-key "$ADMIN_KEY" --approver-key "$APPROVER_KEY" --shots "$SHOTS" || status=$?
if [[ $status -ne 0 ]]; then
    echo "browser: server log (last 40 lines):" >&2
    tail -40 "$RUN/server.log" >&2
fi
exit $status
