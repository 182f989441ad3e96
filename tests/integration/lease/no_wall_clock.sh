#!/usr/bin/env bash
# Static check (design §1): wall-clock time never decides anything in lease/.
# Any CLOCK_REALTIME, time() or gettimeofday() there fails, unless the line
# says it is for logging.
set -euo pipefail
root=$1
hits=$(grep -rnE 'CLOCK_REALTIME|gettimeofday *\(|[^_a-zA-Z.>]time *\( *(NULL|0|&)|tn_wall_now' \
         "$root/lease" | grep -viE '/\* *(wall|log)|// *(wall|log)' || true)
if [ -n "$hits" ]; then
  echo "FAIL: wall-clock reads in lease/:"
  echo "$hits"
  exit 1
fi
echo "no wall-clock reads in lease/: ok"
