#!/usr/bin/env bash
# bench/run.sh: ecshot's benchmark, one table, every row measured side by side.
#
# Rows (docs/performance.md says what each measures, its aim and a run):
#   api/floor WxH   whole GetInstanceScreenshot calls through ecshotd
#                   (ecshot-apibench: V3 signature, one keep-alive
#                   connection, throttle 0 so that every call captures)
#                   against the floor (ecshot-floor: QMP screendump +
#                   TurboJPEG + base64 in a tight loop on the VM's second
#                   QMP socket), for consoles of 720x400, 1024x768 and
#                   1920x1080; ratio api / floor, aim <= 1.2x
#   peer ...        libvirt's path (virsh screenshot, virDomainScreenshot)
#                   against ecshot on the same domain (bench/peers.sh)
#   many VMs        screenshots/s over 32 paused VMs (bench/many.sh)
#   memory ...      ecshotd's RSS idle, with 1,000 connections, with 64
#                   captures in flight (bench/memory.sh)
#   cheap CODE      requests/s of four answers that take no screenshot,
#                   under wrk, against nginx answering the same bytes to
#                   the same load (bench/cheap.sh); aim >= 0.8x
# and after the table, the JPEG study (bench/jpeg.sh): size, encode time and
# fidelity of 4:2:0 and 4:4:4 at qualities 60..90 on four frames.
#
#   bench/run.sh [--smoke] [N]     N calls per latency row (default 300; --smoke: 10,
#                                  4 VMs instead of 32, 1 s of wrk per side, and
#                                  qualities 75 and 85 only)
# The ratios are reported, never asserted: CI runs --smoke to prove it runs.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

smoke=""
n=300
[ "${1:-}" = --smoke ] && { smoke=--smoke; n=10; shift; }
[ -n "${1:-}" ] && n=$1

bench_setup
bench_store
daemon_start

echo "ecshot bench $(date -u +%Y-%m-%dT%H:%MZ): $n calls per latency row, $(nproc) cores," \
     "QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}')"
echo "ratio = med / ref_med (and p95 / ref_p95); ms are per call, /s are calls per second"
table_header
i=0
for mode in text vbe=1024x768 vbe=1920x1080; do
  i=$((i + 1))
  vmdir="$work/vm$i"; mkdir "$vmdir"
  at_exit "vm_kill $vmdir"
  vm_start "$vmdir" "$mode" "$vmdir/qemu.pid" ecshot.sock floor.sock
  id=$(printf 'i-bench%015d' "$i")
  ecshot instance add "$id" --region cn-hangzhou --account 100 --type ecs.g7.large \
    --console "qmp:$vmdir/ecshot.sock" >/dev/null

  floor=$("$build/bench/ecshot-floor" "$vmdir/floor.sock" "$n")
  api=$("$build/bench/ecshot-apibench" "http://127.0.0.1:$port" cn-hangzhou "$id" "$n")
  awk -v s="$(field width "$floor")x$(field height "$floor")" \
    -v fm="$(field median_ms "$floor")" -v fp="$(field p95_ms "$floor")" \
    -v am="$(field median_ms "$api")" -v ap="$(field p95_ms "$api")" \
    -v b="$(field jpeg_bytes "$floor")" -v c="$(field capture_median_ms "$floor")" \
    -v j="$(field jpeg_median_ms "$floor")" 'BEGIN {
      printf "%-36s %7.2fms %7.2fms %7.2fms %7.2fms %6.2fx %8.2fx %8s  floor: capture %.2fms + jpeg %.2fms; %.1f KB\n",
             "api/floor " s, am, ap, fm, fp, am / fm, ap / fp, "<=1.2x", c, j, b / 1024 }'

  vm_kill "$vmdir"
done

export BENCH_IN_TABLE=1
"$root/bench/peers.sh" $smoke "$n"
"$root/bench/many.sh" $smoke
"$root/bench/memory.sh" $smoke
"$root/bench/cheap.sh" $smoke
echo
"$root/bench/jpeg.sh" $smoke
