#!/usr/bin/env bash
# The main story (design.md section 7). The lease half has not landed yet, so
# for now the demo shows what exists: the clock layer.
set -euo pipefail
build=${BUILD:-build}
echo "tenure demo: the lease story (three candidates, a stalled leader, fenced"
echo "writes) is not built yet. What exists today is the clock layer; its tests:"
ctest --test-dir "$build" -R 'unit\.(clock|duration)' --output-on-failure
