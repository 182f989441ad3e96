# Sourced by tools_*.sh: the integration helpers, and one assertion.
# shellcheck source=../integration/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/common.sh"

# expect RC PATTERN COMMAND...: run COMMAND (stdin /dev/null); its exit
# status must be RC and its stderr must match the extended regex PATTERN,
# or be empty when PATTERN is "". Output is kept in $tmp/out and $tmp/err.
expect() {
  local want=$1 pattern=$2 rc
  shift 2
  set +e
  "$@" < /dev/null > "$tmp/out" 2> "$tmp/err"
  rc=$?
  set -e
  [ "$rc" = "$want" ] ||
    fail "$* exited $rc, want $want; stderr: $(cat "$tmp/err")"
  if [ -z "$pattern" ]; then
    [ ! -s "$tmp/err" ] || fail "$*: unexpected stderr: $(cat "$tmp/err")"
    return 0
  fi
  grep -Eq -- "$pattern" "$tmp/err" ||
    fail "$*: stderr lacks /$pattern/: $(cat "$tmp/err")"
}
