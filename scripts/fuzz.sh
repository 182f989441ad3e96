#!/usr/bin/env bash
# Open-ended fuzzing with libFuzzer (clang). make test only replays a corpus
# plus fixed mutations (tests/fuzz/standalone.c); this runs the real thing.
#   scripts/fuzz.sh NAME [SECONDS]     e.g. scripts/fuzz.sh ctl_line 60
set -euo pipefail
name=${1:?usage: scripts/fuzz.sh NAME [SECONDS]}
secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-fuzz"
mkdir -p "$out/corpus-$name"
src="$root/tests/fuzz/fuzz_$name.c"
[ -f "$src" ] || { echo "fuzz: no target $src" >&2; exit 2; }
extra=()
case "$name" in
  pausesim_spec) extra=("$root"/tools/pausesim/spec.c -I"$root/tools/pausesim") ;;
  etcd_reply) extra=("$root"/lease/backends/etcd_proto.c "$root"/lease/src/crc32c.c
                     -I"$root/lease/backends" -I"$root/lease/src" -I"$root/lease/include"
                     $(pkg-config --cflags --libs jansson)) ;;
  fence_state) extra=("$root"/lease/src/fence_format.c "$root"/lease/src/crc32c.c
                      -I"$root/lease/src" -I"$root/lease/include") ;;
  lease_file) extra=("$root"/lease/backends/file_format.c "$root"/lease/src/crc32c.c
                     -I"$root/lease/backends" -I"$root/lease/src" -I"$root/lease/include") ;;
esac
clang -g -O1 -fsanitize=fuzzer,address,undefined -DTN_TESTING=1 \
  -I"$root/runtime/include" -I"$root/runtime/src" \
  "$src" "$root"/runtime/src/*.c "${extra[@]}" \
  $(pkg-config --cflags --libs bdw-gc liburcu-memb jemalloc) -lpthread \
  -o "$out/fuzz_$name"
"$out/fuzz_$name" -max_total_time="$secs" "$out/corpus-$name" "$root/tests/fuzz/corpus/$name"
