#!/usr/bin/env bash
# Install the Debian packages tenure needs, and only the missing ones.
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --check    list what is missing, install nothing (exit 1 if any)
# As root it runs apt-get; otherwise it prints the exact command and stops.
set -euo pipefail

packages=(
  cmake make gcc g++ pkgconf           # toolchain
  libgc-dev liburcu-dev libjemalloc-dev # runtime: Boehm GC, liburcu, jemalloc
  libcunit1-dev                         # unit tests
  clang libclang-rt-14-dev              # fuzz targets (libFuzzer)
  libjansson-dev                        # JSON parsing of telemetry and server replies
  faketime                              # the wall-clock-jump safety test
  prometheus                            # promtool checks the exposition text
  etcd-server libcurl4-openssl-dev      # the etcd backend and its tests (a real etcd 3.4)
  python3 openssl                       # test rigs: free ports, a throwaway TLS CA
  stress-ng util-linux                  # the loaded benchmarks (a CPU hog); setpriv in the fault tests
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "deps: missing: ${missing[*]}"
  exit 1
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
# Packages such as prometheus (and later etcd-server) try to start a system
# service on install. tenure's tests start their own servers on free ports, so
# keep the package scripts from starting anything, unless the machine already
# has a policy of its own.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt-get update -q
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
