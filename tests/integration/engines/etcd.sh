#!/usr/bin/env bash
# A real etcd for tests: one member or a 3-member cluster on 127.0.0.1, at
# free ports (never 2379/2380: a system etcd may live there), with its data
# in a temporary directory. Used as ctest FIXTURES_SETUP / FIXTURES_CLEANUP.
#
#   etcd.sh start single|cluster|tls DIR
#                                      start, wait for /health, print the
#                                      client URLs; DIR/endpoints gets
#                                      "127.0.0.1:P1[,127.0.0.1:P2,...]".
#                                      tls: one member serving HTTPS that
#                                      requires a client certificate; a
#                                      throwaway CA, server and client
#                                      certificates are made with openssl
#                                      in DIR/tls (ca.pem, client.pem,
#                                      client-key.pem)
#   etcd.sh stop DIR                   stop every member by pid, remove data
#   etcd.sh leader DIR                 print "NAME PID" of the raft leader
#   etcd.sh pid DIR NAME               print the pid of member NAME (s1..s3)
#   etcd.sh restart DIR NAME           start member NAME again (after a test
#                                      killed it) with the command line
#                                      recorded in DIR/NAME.cmd at start:
#                                      same name, data dir and flags; wait
#                                      for its /health, update DIR/NAME.pid
#
# Every member is started in its own session with its output in
# DIR/NAME.log, so the setup test can exit while etcd runs on. A watchdog
# stops the members if DIR/alive disappears or after ETCD_MAX_LIFETIME
# seconds (default 1800), so an interrupted test run leaves nothing behind.
# stop sends SIGCONT first: a test may have left a member SIGSTOPped.
#
# Environment: ETCD_ELECTION_TIMEOUT_MS, ETCD_HEARTBEAT_MS (cluster tuning,
# defaults 1000 and 100, etcd's own), ETCD (the binary, default etcd).
set -euo pipefail

etcd_bin=${ETCD:-etcd}
max_life=${ETCD_MAX_LIFETIME:-1800}

die() { echo "etcd.sh: $*" >&2; exit 1; }

# free_ports N: N distinct free TCP ports on 127.0.0.1, bound all at once so
# they differ, then released for etcd to take.
free_ports() {
  python3 -I -S - "$1" <<'EOF'
import socket, sys
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    if s.getsockname()[1] in (2379, 2380):
        continue
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# is_etcd PID: the pid is alive and is an etcd (not a recycled pid).
is_etcd() {
  [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = etcd ]
}

tls_args=()
healthy() { # PORT
  curl -s --max-time 1 --noproxy '*' "${tls_args[@]}" "$scheme://127.0.0.1:$1/health" 2>/dev/null |
    grep -q '"health":"true"'
}

# make_certs DIR: a CA, a server certificate for 127.0.0.1 and a client
# certificate, P-256 keys, valid for two days.
make_certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -days 2 \
      -subj /CN=tenure-test-ca
    openssl req "${ec[@]}" -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
      -out server.pem -days 2 -extfile server.ext
    openssl req "${ec[@]}" -keyout client-key.pem -out client.csr -subj /CN=tenure-client
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
      -out client.pem -days 2 -extfile client.ext
  ) >"$d/openssl.log" 2>&1 || die "openssl could not make the test certificates: $(cat "$d/openssl.log")"
}

stop_members() { # DIR
  local dir=$1 f pid i
  for f in "$dir"/s*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if is_etcd "$pid"; then
      kill -CONT "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for f in "$dir"/s*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for ((i = 0; i < 100; i++)); do
      is_etcd "$pid" || break
      sleep 0.05
    done
    if is_etcd "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$f"
  done
}

start() { # single|cluster DIR
  local mode=$1 dir=$2 n ports i name token cluster data attempt ok
  local tls_flags=()
  scheme=http
  case $mode in
    single) n=1 ;;
    cluster) n=3 ;;
    tls) n=1 ;;
    *) die "start: want single, cluster or tls, not '$mode'" ;;
  esac
  command -v "$etcd_bin" >/dev/null ||
    die "$etcd_bin not found: install the Debian package etcd-server (scripts/deps.sh)"
  command -v python3 >/dev/null || die "python3 is needed to pick free ports"
  mkdir -p "$dir"
  if [ -e "$dir/alive" ]; then
    "$0" stop "$dir" || true
  fi
  rm -f "$dir"/s*.log "$dir"/s*.pid "$dir"/s*.cmd "$dir/endpoints" "$dir/uri"
  if [ "$mode" = tls ]; then
    command -v openssl >/dev/null || die "openssl is needed for the tls mode"
    rm -rf "$dir/tls"
    make_certs "$dir/tls"
    scheme=https
    tls_flags=(--cert-file "$dir/tls/server.pem" --key-file "$dir/tls/server-key.pem"
      --trusted-ca-file "$dir/tls/ca.pem" --client-cert-auth)
    tls_args=(--cacert "$dir/tls/ca.pem" --cert "$dir/tls/client.pem" --key "$dir/tls/client-key.pem")
  fi
  data=$(mktemp -d "${TMPDIR:-/tmp}/tenure-etcd-XXXXXX")
  echo "$data" >"$dir/data"
  : >"$dir/alive"
  started=0
  # on any failure from here on, leave nothing running
  trap 'if [ "$started" != 1 ]; then stop_members "$dir"; rm -rf "$data" "$dir/alive"; fi' EXIT

  for attempt in 1 2 3; do
    read -r -a ports <<<"$(free_ports $((2 * n)))"
    token="tenure-test-$$-$attempt-$RANDOM"
    cluster=""
    for ((i = 1; i <= n; i++)); do
      cluster+="${cluster:+,}s$i=http://127.0.0.1:${ports[$((2 * i - 1))]}"
    done
    for ((i = 1; i <= n; i++)); do
      name=s$i
      local c=${ports[$((2 * i - 2))]} p=${ports[$((2 * i - 1))]}
      # setsid: its own session, so nothing of the caller's (ctest's
      # process group, a terminal's SIGHUP) reaches it; stdio to files so
      # the caller's pipes close when the caller exits.
      local cmd=("$etcd_bin" --name "$name" --data-dir "$data/$name" \
        --listen-client-urls "$scheme://127.0.0.1:$c" \
        --advertise-client-urls "$scheme://127.0.0.1:$c" \
        "${tls_flags[@]}" \
        --listen-peer-urls "http://127.0.0.1:$p" \
        --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "$cluster" --initial-cluster-token "$token" \
        --initial-cluster-state new \
        --heartbeat-interval "${ETCD_HEARTBEAT_MS:-100}" \
        --election-timeout "${ETCD_ELECTION_TIMEOUT_MS:-1000}")
      # the command line, for restart (rewritten per attempt: ports change)
      printf '%q ' "${cmd[@]}" >"$dir/$name.cmd"
      setsid "${cmd[@]}" </dev/null >"$dir/$name.log" 2>&1 &
      echo $! >"$dir/$name.pid"
      echo "$c" >"$dir/$name.port"
    done
    ok=1
    for ((i = 1; i <= n && ok; i++)); do
      local waited=0
      until healthy "$(cat "$dir/s$i.port")"; do
        if ! is_etcd "$(cat "$dir/s$i.pid")" || [ $waited -ge 300 ]; then
          ok=0
          break
        fi
        sleep 0.05
        waited=$((waited + 1))
      done
    done
    [ $ok = 1 ] && break
    echo "etcd.sh: attempt $attempt failed (a port was taken?); last log lines:" >&2
    tail -n 5 "$dir"/s*.log >&2 || true
    stop_members "$dir"
    rm -rf "${data:?}"/*
  done
  [ $ok = 1 ] || die "etcd did not become healthy; logs in $dir"

  local eps=""
  for ((i = 1; i <= n; i++)); do
    eps+="${eps:+,}127.0.0.1:$(cat "$dir/s$i.port")"
  done
  echo "$eps" >"$dir/endpoints"
  if [ "$mode" = tls ]; then
    echo "etcds://$eps?cacert=$dir/tls/ca.pem&cert=$dir/tls/client.pem&key=$dir/tls/client-key.pem" >"$dir/uri"
  else
    echo "etcd://$eps" >"$dir/uri"
  fi

  # the watchdog: its own session too, no stdio of ours
  setsid bash -c '
    dir=$1; data=$2; deadline=$(( $(date +%s) + $3 ))
    while [ -e "$dir/alive" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    for f in "$dir"/s*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      if [ "$(cat /proc/$pid/comm 2>/dev/null)" = etcd ]; then
        kill -CONT "$pid"; kill -KILL "$pid"
      fi
    done
    rm -rf "$data"
  ' etcd-watchdog "$dir" "$data" "$max_life" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watchdog.pid"
  started=1
  for ((i = 1; i <= n; i++)); do
    echo "s$i $scheme://127.0.0.1:$(cat "$dir/s$i.port") pid $(cat "$dir/s$i.pid")"
  done
}

stop() { # DIR
  local dir=$1 data wd
  [ -d "$dir" ] || return 0
  rm -f "$dir/alive"
  stop_members "$dir"
  if [ -e "$dir/watchdog.pid" ]; then
    wd=$(cat "$dir/watchdog.pid")
    # only if it is still our watchdog (bash running with that name)
    if grep -qa etcd-watchdog "/proc/$wd/cmdline" 2>/dev/null; then
      kill "$wd" 2>/dev/null || true
    fi
    rm -f "$dir/watchdog.pid"
  fi
  if [ -e "$dir/data" ]; then
    data=$(cat "$dir/data")
    case $data in
      */tenure-etcd-*) rm -rf "$data" ;;
    esac
    rm -f "$dir/data"
  fi
  echo "etcd.sh: stopped"
}

restart() { # DIR NAME: start a killed member again, same command line
  local dir=$1 name=$2 cmd old waited=0
  [ -e "$dir/$name.cmd" ] || die "restart: no $dir/$name.cmd (was $name started by this script?)"
  [ -e "$dir/alive" ] || die "restart: $dir is not running (no $dir/alive)"
  old=$(cat "$dir/$name.pid" 2>/dev/null || true)
  is_etcd "$old" && die "restart: $name (pid $old) is still running"
  eval "cmd=($(cat "$dir/$name.cmd"))"
  scheme=http
  if [[ " ${cmd[*]} " == *" --client-cert-auth "* ]]; then
    scheme=https
    tls_args=(--cacert "$dir/tls/ca.pem" --cert "$dir/tls/client.pem" --key "$dir/tls/client-key.pem")
  fi
  echo "--- restart $(date +%T)" >>"$dir/$name.log"
  setsid "${cmd[@]}" </dev/null >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  until healthy "$(cat "$dir/$name.port")"; do
    if ! is_etcd "$(cat "$dir/$name.pid")" || [ $waited -ge 300 ]; then
      tail -n 5 "$dir/$name.log" >&2 || true
      die "restart: $name did not become healthy; log in $dir/$name.log"
    fi
    sleep 0.05
    waited=$((waited + 1))
  done
  echo "$name $scheme://127.0.0.1:$(cat "$dir/$name.port") pid $(cat "$dir/$name.pid")"
}

leader() { # DIR: "NAME PID" of the member that leads
  # Asked again for up to 20 s of real time: right after a member was
  # stopped or restarted an election may be on, and on a loaded machine a
  # status request may take longer than its 1 s.
  local dir=$1 f name port up t0
  read -r up _ </proc/uptime
  t0=${up%.*}
  while :; do
    for f in "$dir"/s*.port; do
      name=$(basename "$f" .port)
      port=$(cat "$f")
      if curl -s --max-time 1 --noproxy '*' -X POST -d '{}' \
        "http://127.0.0.1:$port/v3/maintenance/status" 2>/dev/null |
        python3 -I -S -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["header"]["member_id"] == d.get("leader") else 1)' 2>/dev/null; then
        echo "$name $(cat "$dir/$name.pid")"
        return 0
      fi
    done
    read -r up _ </proc/uptime
    [ $((${up%.*} - t0)) -le 20 ] || return 1
    sleep 0.2
  done
}

case ${1:-} in
  start) [ $# -eq 3 ] || die "usage: etcd.sh start single|cluster|tls DIR"; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: etcd.sh stop DIR"; stop "$2" ;;
  leader) [ $# -eq 2 ] || die "usage: etcd.sh leader DIR"; leader "$2" ;;
  pid) [ $# -eq 3 ] || die "usage: etcd.sh pid DIR NAME"; cat "$2/$3.pid" ;;
  restart) [ $# -eq 3 ] || die "usage: etcd.sh restart DIR NAME"; restart "$2" "$3" ;;
  *) die "usage: etcd.sh start single|cluster|tls DIR | stop DIR | leader DIR | pid DIR NAME | restart DIR NAME" ;;
esac
