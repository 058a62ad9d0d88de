#!/usr/bin/env bash
# Validate docker-compose.yml (the scaled-out deployment) without a Docker engine:
# `docker-compose config` only parses, interpolates and schema-checks the file; it
# never contacts the Docker daemon. Then assert the shape Sluice relies on.
#
# Usage: scripts/check-compose.sh        (from anywhere; works on the repo root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail() {
    echo "compose: FAIL: $*" >&2
    exit 1
}

command -v docker-compose >/dev/null 2>&1 \
    || fail "docker-compose is not installed (apt-get install docker-compose)"
command -v python3 >/dev/null 2>&1 \
    || fail "python3 is not installed (needed for the structural checks)"
[[ -f docker-compose.yml ]] || fail "no docker-compose.yml in $root"

# 1. Syntax + compose schema.
if ! errors="$(docker-compose -f docker-compose.yml config -q 2>&1)"; then
    printf '%s\n' "$errors" >&2
    fail "docker-compose config rejected docker-compose.yml (see above)"
fi

# 2. Structure, on the normalised config (anchors and merge keys resolved).
config="$(docker-compose -f docker-compose.yml config 2>/dev/null)" \
    || fail "docker-compose config failed"

COMPOSE_CONFIG="$config" python3 - <<'PY' || fail "docker-compose.yml does not have the expected shape"
import os, shlex, sys

try:
    import yaml
except ImportError:
    print("  python3-yaml is not installed (apt-get install python3-yaml)", file=sys.stderr)
    sys.exit(1)

cfg = yaml.safe_load(os.environ["COMPOSE_CONFIG"]) or {}
services = cfg.get("services") or {}
problems = []

def command(name):
    cmd = (services.get(name) or {}).get("command")
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]

def environment(name):
    env = (services.get(name) or {}).get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env

required = ["redis", "api1", "api2", "api3", "runner", "sweeper", "nginx"]
for name in required:
    if name not in services:
        problems.append(f"service '{name}' is missing")

redis_cmd = " ".join(command("redis"))
if "redis" in services:
    if "--appendfsync everysec" not in redis_cmd:
        problems.append(f"redis must run with '--appendfsync everysec' (command: {redis_cmd!r})")
    if "--appendonly yes" not in redis_cmd:
        problems.append(f"redis must run with '--appendonly yes' (command: {redis_cmd!r})")

for name in ["api1", "api2", "api3"]:
    if name not in services:
        continue
    cmd = command(name)
    for flag in ["serve", "--no-runner", "--no-sweeper"]:
        if flag not in cmd:
            problems.append(f"{name} must run 'serve --no-runner --no-sweeper' (command: {cmd})")
            break

for name, sub in [("runner", "run"), ("sweeper", "sweep")]:
    if name in services and command(name)[:1] != [sub]:
        problems.append(f"{name} must run '{sub}' (command: {command(name)})")

for name in ["api1", "api2", "api3", "runner", "sweeper"]:
    if name in services and not environment(name).get("SLUICE_REDIS_URL"):
        problems.append(f"{name} has no SLUICE_REDIS_URL (it would start an embedded Redis)")

for name in ["api1", "api2", "api3"]:
    env = environment(name)
    if name in services and (not env.get("SLUICE_API_KEYS_FILE") or str(env.get("SLUICE_REQUIRE_AUTH")).lower() != "true"):
        problems.append(f"{name} must set SLUICE_API_KEYS_FILE and SLUICE_REQUIRE_AUTH=true (the deployment is never open)")
if not os.path.isfile("deploy/api-keys.json"):
    problems.append("deploy/api-keys.json (the keys file mounted by the API nodes) does not exist")

if "nginx" in services:
    mounts = " ".join(str(v) if isinstance(v, str) else f'{v.get("source", "")}:{v.get("target", "")}' for v in services["nginx"].get("volumes") or [])
    if "nginx.conf" not in mounts:
        problems.append("nginx does not mount deploy/nginx.conf")
    elif not os.path.isfile("deploy/nginx.conf"):
        problems.append("deploy/nginx.conf (mounted by nginx) does not exist")
    # deploy/nginx.conf is shared with deploy/fleet; compose supplies its two includes.
    for include in ["sluice-site.conf", "sluice-listen.conf"]:
        if f"/etc/nginx/{include}" not in mounts:
            problems.append(f"nginx does not mount deploy/nginx-compose/{include} as /etc/nginx/{include}")
        elif not os.path.isfile(f"deploy/nginx-compose/{include}"):
            problems.append(f"deploy/nginx-compose/{include} (mounted by nginx) does not exist")

for p in problems:
    print(f"  - {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

echo "compose: ok"
