#!/usr/bin/env bash
# Run every benchmark in tests/bench and print its JSON, one object per line.
# Each benchmark measures its own baseline in the same run (docs/benchmarks.md).
set -euo pipefail
build=${BUILD:-build}
dir="$build/tests/bench"
shopt -s nullglob
ran=0
for b in "$dir"/bench_*; do
  [ -x "$b" ] || continue
  echo "# $(basename "$b")" >&2
  case "$(basename "$b")" in
    bench_etcd) BUILD=$build "$(dirname "$0")/../tests/bench/etcd.sh" ;; # starts its own etcd
    *) "$b" ;;
  esac
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "bench: no benchmarks built in $dir" >&2
  exit 1
fi
