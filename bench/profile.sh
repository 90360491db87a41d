#!/usr/bin/env bash
# bench/profile.sh: where ecshotd spends its CPU on the two hot paths, by perf.
#
#   bench/profile.sh [CALLS]
#
# 1. cheap answers: CALLS (default 20000) pre-signed V3 calls over 4
#    keep-alive connections (ecshot-loadgen) for a Stopped instance, so
#    every call runs the whole request path (HTTP, signature, nonce, store,
#    RAM, status) and none reaches a hypervisor;
# 2. screenshots: 300 whole calls (ecshot-apibench) on a 1024x768 console
#    of the test guest, throttle window 0.
# For each, `perf record -g` on ecshotd alone, then the 25 symbols with the
# most samples of their own (self), and the same by shared object: what a
# change to the hot path should move. Needs perf and a
# kernel.perf_event_paranoid of 2 or less (profiling one's own processes).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/vm.sh

calls=${1:-20000}
build=${ECSHOT_BUILD:-$root/build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
tests/guest/build.sh >/dev/null
command -v perf >/dev/null || { echo "profile: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

work=$(mktemp -d /tmp/ecshot-profile.XXXXXX)
daemon_pid="" vm_pidfile="$work/qemu.pid"
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -f "$vm_pidfile" ] && kill "$(cat "$vm_pidfile")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

store="sqlite:$work/ecshot.db" master_key="$work/master.key"
"$build/src/cli/ecshot" master-key create "$master_key" >/dev/null
ecshot() { "$build/src/cli/ecshot" --store "$store" --master-key "$master_key" "$@"; }
ecshot account create 100 >/dev/null
read -r ak sk < <(ecshot key create 100)
export ALIBABA_CLOUD_ACCESS_KEY_ID=$ak ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk

exec 3< <(exec "$build/src/daemon/ecshotd" --listen 127.0.0.1:0 --store "$store" \
            --master-key "$master_key" --throttle-ms 0 --log-level warn --no-seccomp \
            2>"$work/ecshotd.log")
daemon_pid=$!
read -r -t 30 line <&3 || { echo "profile: ecshotd did not start" >&2; cat "$work/ecshotd.log" >&2; exit 1; }
port=${line##*:}

# profile NAME COMMAND...: perf on ecshotd while COMMAND runs, then the tables.
profile() {
  local name=$1; shift
  perf record -q -g -F 2999 -p "$daemon_pid" -o "$work/$name.data" -- sleep 3600 &
  local perf_pid=$!
  # perf attaches within its first moments; the workload's warm-up covers it.
  "$@"
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  echo "--- $name: symbols by self samples"
  # (head ends the pipe early: not a failure)
  perf report -q -i "$work/$name.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
    grep -v '^$' | head -25 || true
  echo "--- $name: by shared object"
  perf report -q -i "$work/$name.data" --no-children --sort dso --stdio -g none 2>/dev/null |
    grep -v '^$' | head -10 || true
}

stopped=i-profile0000000000001
ecshot instance add "$stopped" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console qmp:/nonexistent/qmp.sock --status Stopped >/dev/null
profile cheap "$build/bench/ecshot-loadgen" "http://127.0.0.1:$port" cn-hangzhou "$stopped" \
  "$calls" 4

mkdir "$work/vm"
vm_start "$work/vm" vbe=1024x768 "$vm_pidfile" ecshot.sock
running=i-profile0000000000002
ecshot instance add "$running" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console "qmp:$work/vm/ecshot.sock" >/dev/null
profile capture "$build/bench/ecshot-apibench" "http://127.0.0.1:$port" cn-hangzhou "$running" 300
