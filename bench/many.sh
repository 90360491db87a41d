#!/usr/bin/env bash
# bench/many.sh: screenshots per second over many VMs at once.
#
# Boots 32 test guests (vbe=1024x768), pauses each once its picture is
# drawn (QMP stop: a paused VM keeps its framebuffer and costs no CPU) and
# registers them as instances of one ecshotd (throttle 0). Then:
#   many   ecshot-loadgen sends a fixed number of signed calls (3,000) over
#          one keep-alive connection per VM, each connection keeping to its
#          VM, and counts screenshots per second;
#   ref    the floor on one of those VMs (ecshot-floor: screendump + JPEG +
#          base64 in a tight loop) as screenshots per second, times the
#          number of cores: what the machine could do with nothing but
#          captures running on every core.
# ratio = many / ref, aim >= 0.7x.
#
#   bench/many.sh [--smoke]     --smoke: 4 VMs and 200 calls
# ECSHOT_BENCH_VMS, _CALLS, _CONNECTIONS override the sizes.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

vms=32 calls=3000 floor_n=200
if [ "${1:-}" = --smoke ]; then vms=4 calls=200 floor_n=10; fi
vms=${ECSHOT_BENCH_VMS:-$vms}
calls=${ECSHOT_BENCH_CALLS:-$calls}
conns=${ECSHOT_BENCH_CONNECTIONS:-$((vms < 64 ? vms : 64))}
cores=$(nproc)

bench_setup
[ -n "${BENCH_IN_TABLE:-}" ] || table_header
bench_store
daemon_start
fleet_start "$vms" vbe=1024x768

floor=$("$build/bench/ecshot-floor" "$fleet_dir/vm1/ctl.sock" "$floor_n")
load=$("$build/bench/ecshot-loadgen" "http://127.0.0.1:$port" cn-hangzhou "$fleet_ids" \
         "$calls" "$conns" v3 screenshot)
awk -v name="many VMs: $vms paused, $conns conns" -v rps="$(field rps "$load")" \
  -v fm="$(field median_ms "$floor")" -v cores="$cores" -v calls="$calls" \
  -v lm="$(field median_ms "$load")" -v lp="$(field p95_ms "$load")" 'BEGIN {
    ref = 1000 / fm * cores
    printf "%-36s %7.0f/s %9s %7.0f/s %9s %6.2fx %9s %8s  floor %.2fms x %d cores; %d calls, each %.1fms med %.1fms p95\n",
           name, rps, "-", ref, "-", rps / ref, "-", ">=0.7x", fm, cores, calls, lm, lp }'
