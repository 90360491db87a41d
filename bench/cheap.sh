#!/usr/bin/env bash
# bench/cheap.sh: cheap answers, ecshotd against nginx with the same load.
#
# Four answers that cost ecshot no screenshot: Throttling (an instance
# whose screenshot was just taken), Forbidden.RAM (a RAM user without
# policies), SignatureDoesNotMatch (a wrong secret) and
# IncorrectInstanceStatus (a Stopped instance). For each, in the same run:
#   nginx   started here on loopback with a config of its own (a temp dir,
#           never the system's), as many worker processes as ecshotd has
#           event loops, answering every request with ecshot's own answer
#           for that code, byte for byte: same status, same content type,
#           same body (taken from one probe call to ecshotd);
#   ecshot  a fresh ecshotd with its defaults (throttle window set to an
#           hour so that the shot taken first keeps the instance throttled);
# both loaded by wrk with the same threads, connections and duration, and
# the same requests: ecshot-loadgen --raw pre-signs them, each with a fresh
# nonce (ecshotd claims a nonce once the signature is good, so a replayed
# request would be answered SignatureNonceUsed), sized from nginx's rate,
# and bench/cheap.lua replays them and checks every answer's status and
# Code. It prints, per code, requests/s of each, the ratio ecshot/nginx
# (aim >= 0.8), the server's CPU time per answer (user + system, from
# /proc: on a machine whose cores wrk shares, a steadier measure than the
# rate), wrk's latency median and p95, and the answers that were not
# the expected ones (bad) or came from requests sent twice (wrapped).
#
# Throttling is the only row that needs a VM: the test guest boots in text
# mode, one real screenshot claims its throttle, and every later call runs
# the whole path to that claim, live query-status on the VM's QMP included.
#
#   bench/cheap.sh [--smoke]       --smoke: 1 s per side instead of 5
# ECSHOT_CHEAP_PERF=DIR also records a perf profile of ecshotd per code
# (ECSHOT_CHEAP_PERF_CALLGRAPH: fp or dwarf; ECSHOT_CHEAP_PERF_FREQ: Hz).
# ECSHOT_CHEAP_DAEMON_ARGS adds options to ecshotd's command line, for A/B
# runs (say --store-cache 0).
# ECSHOT_CHEAP_SECONDS, _THREADS, _CONNECTIONS override the load (defaults:
# 5 s, one wrk thread per core, 64 connections), _MAX_REQUESTS the requests
# signed per code (600,000). The ratios
# are reported, never asserted; without wrk or nginx it says so and exits 0.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

seconds=5
[ "${1:-}" = --smoke ] && seconds=1
seconds=${ECSHOT_CHEAP_SECONDS:-$seconds}
threads=${ECSHOT_CHEAP_THREADS:-$(nproc)}
conns=${ECSHOT_CHEAP_CONNECTIONS:-64}
# At about 700 bytes a request, held in memory by each wrk thread too.
max_requests=${ECSHOT_CHEAP_MAX_REQUESTS:-600000}
# ecshotd's HTTP threads: its default, one per core (--threads).
server_threads=$(nproc)
codes=(Throttling Forbidden.RAM SignatureDoesNotMatch IncorrectInstanceStatus)

bench_setup
[ -n "${BENCH_IN_TABLE:-}" ] || table_header
# Debian puts nginx in /usr/sbin, which a user's PATH may lack.
nginx_bin=$(PATH=$PATH:/usr/sbin command -v nginx || true)
wrk_bin=$(command -v wrk || true)
for tool in wrk nginx; do
  bin=${tool}_bin
  if [ -z "${!bin}" ]; then
    for code in "${codes[@]}"; do
      skipped "cheap $code" "$tool is not installed (scripts/setup.sh installs wrk and nginx)"
    done
    exit 0
  fi
done

bench_store
# shellcheck disable=SC2086 # ECSHOT_CHEAP_DAEMON_ARGS is a list of options
daemon_start --throttle-ms 3600000 ${ECSHOT_CHEAP_DAEMON_ARGS:-}
endpoint="http://127.0.0.1:$port"
loadgen=$build/bench/ecshot-loadgen

# The instances: a Running one on a text-mode guest (throttled once shot),
# a Stopped one that no call ever reaches a hypervisor for.
vmdir="$work/vm"; mkdir "$vmdir"
at_exit "vm_kill $vmdir"
vm_start "$vmdir" text "$vmdir/qemu.pid" ecshot.sock
running="i-cheaprunning00000001"
stopped="i-cheapstopped00000001"
ecshot instance add "$running" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console "qmp:$vmdir/ecshot.sock" >/dev/null
ecshot instance add "$stopped" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console "qmp:$work/nowhere.sock" --status Stopped >/dev/null
ecshot screenshot --endpoint "$endpoint" --region cn-hangzhou --instance "$running" \
  -o "$work/first.jpg" >/dev/null
# A RAM user with a key and no policy: every call of theirs is denied.
ecshot user create 100 nopolicy >/dev/null
read -r ram_ak ram_sk < <(ecshot key create 100/nopolicy)

# keys CODE: the AccessKey pair whose calls get CODE; instance CODE: the
# instance they name.
keys() {
  case $1 in
    Forbidden.RAM) echo "$ram_ak $ram_sk" ;;
    SignatureDoesNotMatch) echo "$ALIBABA_CLOUD_ACCESS_KEY_ID wrong${ALIBABA_CLOUD_ACCESS_KEY_SECRET}" ;;
    *) echo "$ALIBABA_CLOUD_ACCESS_KEY_ID $ALIBABA_CLOUD_ACCESS_KEY_SECRET" ;;
  esac
}
instance() { case $1 in Throttling) echo "$running" ;; *) echo "$stopped" ;; esac; }

# signed CODE ARGS...: ecshot-loadgen ARGS with CODE's keys.
signed() {
  local code=$1 ak sk; shift
  read -r ak sk < <(keys "$code")
  ALIBABA_CLOUD_ACCESS_KEY_ID=$ak ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk "$loadgen" "$@"
}

# free_port: a loopback port for nginx, below the kernel's ephemeral range
# (whose ports wrk's and curl's client sockets take: nginx cannot bind one
# that a live connection uses as its local end) and used by no TCP socket
# in any state.
free_port() {
  local p low
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 12000 ] || low=32768
  while :; do
    p=$((10000 + RANDOM % (low - 10000)))
    ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
  done
}

# nginx_start STATUS TYPE BODY_FILE: nginx answering that, on $nginx_port.
# The body goes into the config as a quoted string: backslashes, quotes and
# newlines escaped, and '$' (which nginx would read as a variable) spelt
# ${dollar}. What nginx then answers is compared with the body, byte for byte.
nginx_start() {
  local dir="$work/nginx" body i
  rm -rf "$dir"; mkdir -p "$dir/tmp"
  body=$(perl -0777 -pe 's/\\/\\\\/g; s/\x27/\\\x27/g; s/\$/\${dollar}/g; s/\n/\\n/g' "$3")
  nginx_port=$(free_port)
  cat > "$dir/nginx.conf" <<EOF
worker_processes $server_threads;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  # ecshotd keeps a connection as long as the client does.
  keepalive_requests 1000000000;
  keepalive_timeout 65;
  server_tokens off;
  geo \$dollar { default "\$"; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      default_type "$2";
      return $1 '$body';
    }
  }
}
EOF
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  nginx_pid=$!
  at_exit "kill $nginx_pid 2>/dev/null"
  for ((i = 0; i < 100; i++)); do
    if curl -s -X POST -o "$dir/answer" "http://127.0.0.1:$nginx_port/"; then
      cmp -s "$dir/answer" "$3" && return 0
      echo "cheap: nginx does not answer ecshot's bytes" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "cheap: nginx did not start" >&2
  cat "$dir/error.log" >&2
  return 1
}

# cpu_ticks PID...: user + system CPU of those processes (all their
# threads) so far, in clock ticks.
cpu_ticks() {
  local pid t=0 f
  for pid in "$@"; do
    # Fields 14 and 15 of /proc/PID/stat, counted after the ')' that ends
    # the command name (which may hold spaces).
    read -r -a f < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}
nginx_pids() { echo "$nginx_pid" $(pgrep -P "$nginx_pid"); }
tick_us=$((1000000 / $(getconf CLK_TCK)))

nginx_stop() { kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null || true; }

# load URL PREFIX STATUS CODE SECONDS: wrk replays PREFIX.* against URL;
# prints cheap.lua's line.
load() {
  "$wrk_bin" -t "$threads" -c "$conns" -d "${5}s" --timeout 10s -s "$root/bench/cheap.lua" "$1" \
    -- "$2" "$3" "$4" | grep '^cheap '
}

for code in "${codes[@]}"; do
  probe=$(signed "$code" --probe "$endpoint" cn-hangzhou "$(instance "$code")" "$work/body")
  status=$(field status "$probe")
  type=$(field content_type "$probe")
  bytes=$(field bytes "$probe")
  got=$(grep -o '"Code":"[^"]*"' "$work/body" || true)
  if [ "$got" != "\"Code\":\"$code\"" ]; then
    skipped "cheap $code" "ecshotd answered HTTP $status ${got:-without a Code}"
    continue
  fi
  nginx_start "$status" "$type" "$work/body"

  # Size the requests from nginx's rate (a first second of it, on a few
  # requests: nginx does not mind them twice), with room for ecshot to be
  # 1.2 times as fast (up to max_requests; past it wrk replays, and the
  # row says how many were wrapped); each thread's share in a file.
  rm -f "$work/req".*
  signed "$code" --raw "$work/req" "$threads" "$endpoint" cn-hangzhou "$(instance "$code")" \
    $((threads * 100))
  probe_rate=$(field rps "$(load "http://127.0.0.1:$nginx_port/" "$work/req" "$status" "$code" 1)")
  n=$(awk -v r="$probe_rate" -v s="$seconds" -v c="$conns" -v m="$max_requests" 'BEGIN {
    n = r * s * 1.2 + c * 10; printf "%d", n < m ? n : m }')
  rm -f "$work/req".*
  signed "$code" --raw "$work/req" "$threads" "$endpoint" cn-hangzhou "$(instance "$code")" "$n"

  # shellcheck disable=SC2046 # one pid per word
  ref_t0=$(cpu_ticks $(nginx_pids))
  ref=$(load "http://127.0.0.1:$nginx_port/" "$work/req" "$status" "$code" "$seconds")
  # shellcheck disable=SC2046
  ref_cpu=$(($(cpu_ticks $(nginx_pids)) - ref_t0))
  nginx_stop
  if [ -n "${ECSHOT_CHEAP_PERF:-}" ]; then
    # ECSHOT_CHEAP_PERF=DIR: perf record -g on ecshotd alone while wrk loads
    # it, one DIR/CODE.data per code, for `perf report -i`.
    mkdir -p "$ECSHOT_CHEAP_PERF"
    perf record -q --call-graph "${ECSHOT_CHEAP_PERF_CALLGRAPH:-fp}" -F "${ECSHOT_CHEAP_PERF_FREQ:-4000}" -p "$daemon_pid" -o "$ECSHOT_CHEAP_PERF/$code.data" \
      -- sleep "$seconds" 2>/dev/null &
    perf_pid=$!
  fi
  got_t0=$(cpu_ticks "$daemon_pid")
  got=$(load "$endpoint/" "$work/req" "$status" "$code" "$seconds")
  got_cpu=$(($(cpu_ticks "$daemon_pid") - got_t0))
  [ -z "${ECSHOT_CHEAP_PERF:-}" ] || wait "$perf_pid" || true
  rm -f "$work/req".*

  awk -v name="cheap $code" -v r="$(field rps "$got")" -v rr="$(field rps "$ref")" \
    -v m="$(field p50_ms "$got")" -v p="$(field p95_ms "$got")" \
    -v rm="$(field p50_ms "$ref")" -v rp="$(field p95_ms "$ref")" \
    -v bad="$(field bad "$got")" -v wr="$(field wrapped "$got")" -v rbad="$(field bad "$ref")" \
    -v fb="$(field first_bad "$got")" -v se="$(field socket_errors "$got")" \
    -v status="$status" -v bytes="$bytes" -v n="$n" \
    -v cpu="$got_cpu" -v rcpu="$ref_cpu" -v tick="$tick_us" \
    -v req="$(field requests "$got")" -v rreq="$(field requests "$ref")" 'BEGIN {
      printf "%-36s %7.0f/s %9s %7.0f/s %9s %6.2fx %9s %8s  HTTP %d, %d B; CPU us/answer ecshot %.1f nginx %.1f; ms med/p95 ecshot %.2f/%.2f nginx %.2f/%.2f; bad %d%s, wrapped %d of %d, socket errors %d%s\n",
             name, r, "-", rr, "-", r / rr, "-", ">=0.8x", status, bytes,
             (req > 0 ? cpu * tick / req : 0), (rreq > 0 ? rcpu * tick / rreq : 0), m, p, rm, rp,
             bad, (fb != "-" ? " (first " fb ")" : ""), wr, n, se,
             (rbad > 0 ? "; nginx bad " rbad : "") }'
done
