#!/usr/bin/env bash
# bench/memory.sh: how much memory ecshotd holds, idle and under load.
#
# VmRSS (resident now), VmHWM (the peak so far) and RssAnon (ecshotd's own
# pages, without the shared libraries' file pages) of one ecshotd, from
# /proc/PID/status, at three moments:
#   idle      just after it started (aim < 16 MB);
#   idle 1000 with 1,000 keep-alive connections open (ecshot-idleconns: one
#             request each, then idle; loopback);
#   in flight while 64 signed calls at a time capture from 32 paused VMs
#             (ecshot-loadgen, 64 connections): the largest VmRSS seen
#             while it ran (read every 10 ms) and VmHWM afterwards; on a
#             fresh ecshotd, as what the connections left behind would
#             otherwise count here too.
#
#   bench/memory.sh [--smoke]     --smoke: 4 VMs, fewer calls
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

vms=32 conns=64 idle=1000 rounds=10
if [ "${1:-}" = --smoke ]; then vms=4 rounds=2; fi

bench_setup
[ -n "${BENCH_IN_TABLE:-}" ] || table_header
bench_store
# Room for the idle connections, in ecshotd and in the tool that opens them.
ulimit -n $((idle * 2 + 1024)) 2>/dev/null || true
daemon_start --max-connections $((idle * 2)) --connection-timeout 300

# kb NAME: NAME (VmRSS, VmHWM) of ecshotd in kB.
kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$daemon_pid/status"; }

# mem_row NAME RSS_KB AIM NOTES: VmRSS, and in the notes VmHWM and how much
# of the RSS is ecshotd's own (RssAnon; the rest is mostly shared libraries'
# pages, RssFile).
mem_row() {
  awk -v name="$1" -v rss="$2" -v hwm="$(kb VmHWM)" -v anon="$(kb RssAnon)" -v aim="$3" \
    -v notes="$4" 'BEGIN {
    printf "%-36s %7.1fMB %9s %9s %9s %7s %9s %8s  VmHWM %.1fMB, RssAnon %.1fMB%s\n",
           name, rss / 1024, "-", "-", "-", "-", "-", aim, hwm / 1024, anon / 1024, notes }'
}

mem_row "memory: idle" "$(kb VmRSS)" "<16MB" ""

coproc idlers { exec "$build/bench/ecshot-idleconns" "http://127.0.0.1:$port/" "$idle"; }
idlers_pid=$idlers_PID
read -r line <&"${idlers[0]}"
mem_row "memory: $idle idle connections" "$(kb VmRSS)" "-" \
  "; $(field open "$line") opened, $(field answered "$line") answered"
fd=${idlers[1]}
exec {fd}>&-
wait "$idlers_pid" || true
kill "$daemon_pid"

daemon_start
fleet_start "$vms" vbe=1024x768
"$build/bench/ecshot-loadgen" "http://127.0.0.1:$port" cn-hangzhou "$fleet_ids" \
  $((conns * rounds)) "$conns" v3 screenshot > "$work/load.out" &
load_pid=$!
max=0
while kill -0 "$load_pid" 2>/dev/null; do
  rss=$(kb VmRSS)
  [ "$rss" -gt "$max" ] && max=$rss
  sleep 0.01
done
wait "$load_pid"
mem_row "memory: $conns captures in flight" "$max" "-" \
  "; VmRSS largest seen; $vms VMs, $(field rps "$(cat "$work/load.out")")/s"
