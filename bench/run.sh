#!/usr/bin/env bash
# bench/run.sh: how close a whole GetInstanceScreenshot call comes to the floor.
#
# For consoles of 720x400 (text mode), 1024x768 and 1920x1080 it boots the
# test guest, then measures in the same run:
#   floor  QMP screendump + TurboJPEG + base64 in a tight loop (ecshot-floor,
#          on the VM's second QMP socket), no HTTP, no signature, no store;
#   api    whole signed calls through ecshotd (ecshot-apibench, V3 signature,
#          one keep-alive connection), with the throttle window set to 0 so
#          that every call captures (the claim itself still runs);
# and prints median and p95 of each and their ratio (api / floor).
#
#   bench/run.sh [--smoke] [N]     N calls per row (default 300; --smoke: 10)
# The ratios are reported, never asserted: CI runs --smoke to prove it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/vm.sh

n=300
[ "${1:-}" = --smoke ] && { n=10; shift; }
[ -n "${1:-}" ] && n=$1
build=${ECSHOT_BUILD:-$root/build}

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
tests/guest/build.sh >/dev/null

work=$(mktemp -d /tmp/ecshot-bench.XXXXXX)
daemon_pid=""
vm_pidfile="$work/qemu.pid"
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -f "$vm_pidfile" ] && kill "$(cat "$vm_pidfile")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

store="sqlite:$work/ecshot.db"
master_key="$work/master.key"
"$build/src/cli/ecshot" master-key create "$master_key" >/dev/null
ecshot() { "$build/src/cli/ecshot" --store "$store" --master-key "$master_key" "$@"; }
ecshot account create 100 >/dev/null
read -r ak sk < <(ecshot key create 100)
export ALIBABA_CLOUD_ACCESS_KEY_ID=$ak ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk

exec 3< <(exec "$build/src/daemon/ecshotd" --listen 127.0.0.1:0 --store "$store" \
            --master-key "$master_key" --throttle-ms 0 --log-level warn 2>"$work/ecshotd.log")
daemon_pid=$!
read -r -t 30 line <&3 || { echo "bench: ecshotd did not start" >&2; cat "$work/ecshotd.log" >&2; exit 1; }
port=${line##*:}

field() { # field NAME LINE: the value of NAME=VALUE in a result line
  local f
  for f in $2; do [ "${f%%=*}" = "$1" ] && { echo "${f#*=}"; return; }; done
}

echo "ecshot bench: $n calls per row, $(nproc) cores, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}')"
printf '%-10s %12s %12s %12s %12s %8s %8s %9s\n' console floor_med floor_p95 api_med api_p95 \
  ratio_med ratio_p95 jpeg_kb
i=0
for mode in text vbe=1024x768 vbe=1920x1080; do
  i=$((i + 1))
  vmdir="$work/vm$i"; mkdir "$vmdir"
  vm_start "$vmdir" "$mode" "$vm_pidfile" ecshot.sock floor.sock
  id=$(printf 'i-bench%015d' "$i")
  ecshot instance add "$id" --region cn-hangzhou --account 100 --type ecs.g7.large \
    --console "qmp:$vmdir/ecshot.sock" >/dev/null

  floor=$("$build/bench/ecshot-floor" "$vmdir/floor.sock" "$n")
  api=$("$build/bench/ecshot-apibench" "http://127.0.0.1:$port" cn-hangzhou "$id" "$n")
  fm=$(field median_ms "$floor"); fp=$(field p95_ms "$floor")
  am=$(field median_ms "$api"); ap=$(field p95_ms "$api")
  size="$(field width "$floor")x$(field height "$floor")"
  awk -v s="$size" -v fm="$fm" -v fp="$fp" -v am="$am" -v ap="$ap" -v b="$(field jpeg_bytes "$floor")" \
    'BEGIN { printf "%-10s %10.2fms %10.2fms %10.2fms %10.2fms %7.2fx %7.2fx %9.1f\n",
             s, fm, fp, am, ap, am / fm, ap / fp, b / 1024 }'

  kill "$(cat "$vm_pidfile")"; rm -f "$vm_pidfile"
done
echo "aim: api within 1.3x of the floor (ratio_med)"
