#!/usr/bin/env bash
# Start a one-member etcd on free ports (tests/integration/engines/etcd.sh)
# in a temporary directory, run bench_etcd against it, stop it.
#
#   tests/bench/etcd.sh [ROUNDS]   (BUILD: the build directory, default build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
bench="$build/tests/bench/bench_etcd"
engine="$root/tests/integration/engines/etcd.sh"
[ -x "$bench" ] || { echo "etcd.sh: $bench not built (target bench_etcd)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/tenure-bench-etcd-XXXXXX")
trap '"$engine" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$engine" start single "$dir" >&2
"$bench" "$(cat "$dir/endpoints")" "$@"
