# Helpers shared by the integration test scripts. Sourced, not run.
#
#   it_scratch NAME     make $tmp (a scratch directory) and arrange that on
#                       exit the hooks in cleanup_hooks run, every process
#                       recorded with `track PID` is continued and killed
#                       (never anything else), and $tmp is removed; so a
#                       failing test cannot leave a stopped process behind.
#   wait_until MS CMD   poll CMD until it succeeds, for at most MS ms of
#                       real time
#   uptime_ms           set $uptime_ms (boot time, ms) for elapsed times

it_scratch() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1-it.XXXXXX")
  started=()
  cleanup_hooks=()
  trap it_cleanup EXIT
}

it_cleanup() {
  local p h
  for h in "${cleanup_hooks[@]+"${cleanup_hooks[@]}"}"; do
    eval "$h" || true
  done
  for p in "${started[@]+"${started[@]}"}"; do
    kill -CONT "$p" 2> /dev/null || true
    kill -KILL "$p" 2> /dev/null || true
  done
  for p in "${started[@]+"${started[@]}"}"; do
    wait "$p" 2> /dev/null || true
  done
  rm -rf "$tmp"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

note() { echo "-- $*"; }

# Remember a background process for cleanup: track $!
track() { started+=("$1"); }

# Kill one of our processes and reap it quietly.
kill_reap() {
  kill -KILL "$1" 2> /dev/null || true
  wait "$1" 2> /dev/null || true
}

# uptime_ms: set $uptime_ms to CLOCK_BOOTTIME in ms (/proc/uptime, 10 ms
# steps), without a fork. For elapsed times: the wall clock may be stepped.
uptime_ms() {
  local up
  read -r up _ < /proc/uptime
  uptime_ms=$((10#${up%.*} * 1000 + 10#${up#*.} * 10))
}

# wait_until BOUND_MS COMMAND...: poll every 10 ms until COMMAND succeeds,
# for at most BOUND_MS of real time. The bound is real time, not a count of
# polls: on a loaded machine each poll (a fork or two) can take far longer
# than 10 ms, and a count would stretch the bound without saying so. Pick
# bounds that a busy machine cannot reach (seconds, not milliseconds) and,
# where the test tells "at once" from "never", make "never" much longer.
wait_until() {
  local bound=$1 start
  shift
  uptime_ms
  start=$uptime_ms
  until "$@"; do
    uptime_ms
    [ $((uptime_ms - start)) -lt "$bound" ] || return 1
    sleep 0.01
  done
}
