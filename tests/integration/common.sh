# Helpers shared by the integration test scripts. Sourced, not run.
#
#   it_scratch NAME   make $tmp (a scratch directory) and arrange that on
#                     exit the hooks in cleanup_hooks run, every process
#                     recorded with `track PID` is continued and killed
#                     (never anything else), and $tmp is removed; so a
#                     failing test cannot leave a stopped process behind.

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

# wait_until BOUND_MS COMMAND...: poll every 10 ms until COMMAND succeeds.
wait_until() {
  local bound=$1 waited=0
  shift
  until "$@"; do
    [ "$waited" -lt "$bound" ] || return 1
    sleep 0.01
    waited=$((waited + 10))
  done
}
