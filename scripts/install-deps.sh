#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Sluice needs that are not installed yet.
#
# Usage: scripts/install-deps.sh [--dry-run] [PACKAGE...]
#   default packages: redis-server libhiredis-dev pkg-config docker-compose
#   --dry-run         print the apt-get commands instead of running them
#
# Quiet when everything is present (prints "deps: all present"). Runs apt-get as
# root directly, or through sudo when not root.
set -euo pipefail

dry_run=0
packages=()
for arg in "$@"; do
    case "$arg" in
        --dry-run|-n) dry_run=1 ;;
        -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) echo "deps: unknown option: $arg" >&2; exit 2 ;;
        *)  packages+=("$arg") ;;
    esac
done
if [[ ${#packages[@]} -eq 0 ]]; then
    packages=(redis-server libhiredis-dev pkg-config docker-compose)
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: dpkg/apt-get not found; this script supports Debian/Ubuntu only." >&2
    echo "deps: install these yourself: ${packages[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    # Debian package names (optionally :arch); refuses anything apt-get could read as an option.
    if [[ ! "$pkg" =~ ^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$ ]]; then
        echo "deps: not a valid package name: '$pkg'" >&2
        exit 2
    fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all present"
    exit 0
fi

echo "deps: missing: ${missing[*]}"

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "deps: not root and sudo is not installed; run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

run() {
    if [[ $dry_run -eq 1 ]]; then
        echo "deps: would run: $*"
    else
        "$@"
    fi
}

# `env` so that DEBIAN_FRONTEND survives sudo's environment reset.
run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"

if [[ $dry_run -eq 0 ]]; then
    echo "deps: installed: ${missing[*]}"
fi
