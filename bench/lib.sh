# bench/lib.sh: what the benchmark scripts share. Sourced by bench/run.sh
# and the scripts it calls (peers.sh, many.sh, memory.sh), each of which
# also runs on its own.
#
#   bench_setup           build (once), a private work directory, and exit
#                         hooks; sets root, build, work
#   at_exit CMD...        run CMD when the script exits (last added, first run)
#   bench_store           a store, a master key, account 100 and its AccessKey
#                         (exported as ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET):
#                         SQLite in the work directory, or ECSHOT_BENCH_STORE
#                         (a postgresql:// URL of an empty database)
#   ecshot ARGS...        the CLI on that store
#   daemon_start ARGS...  ecshotd on 127.0.0.1 (any free port), throttle 0,
#                         plus ARGS; sets daemon_pid and port, stopped at exit
#   fleet_start COUNT MODE  COUNT test guests drawing MODE, each paused once
#                         its picture is complete and registered as an
#                         instance; sets fleet_ids (comma-separated) and
#                         fleet_dir (vmI/ctl.sock is a spare QMP socket)
#   table_header, row     the table all the scripts print (see row)
#   field NAME LINE       the value of NAME=VALUE in a bench program's line
# Timing is the programs' (bench/*.c); these functions only set up.

# shellcheck shell=bash
bench_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  build=${ECSHOT_BUILD:-$root/build}
  # shellcheck source=scripts/lib/vm.sh
  . "$root/scripts/lib/vm.sh"
  [ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
  ninja -C "$build" >/dev/null
  "$root/tests/guest/build.sh" >/dev/null
  work=$(mktemp -d /tmp/ecshot-bench.XXXXXX)
  exit_hooks=("rm -rf $work")
  trap run_exit_hooks EXIT
}

at_exit() { exit_hooks+=("$*"); }

run_exit_hooks() {
  local i
  for ((i = ${#exit_hooks[@]} - 1; i >= 0; i--)); do eval "${exit_hooks[i]}" || true; done
}

bench_store() {
  store=${ECSHOT_BENCH_STORE:-sqlite:$work/ecshot.db}
  master_key="$work/master.key"
  "$build/src/cli/ecshot" master-key create "$master_key" >/dev/null
  ecshot account create 100 >/dev/null
  read -r ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET < <(ecshot key create 100)
  export ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET
}

ecshot() { "$build/src/cli/ecshot" --store "$store" --master-key "$master_key" "$@"; }

# ecshotd prints "listening on HOST:PORT" once it serves; it runs as the
# process substitution itself (exec), so $! is its pid.
daemon_start() {
  local line fd
  exec {fd}< <(exec "$build/src/daemon/ecshotd" --listen 127.0.0.1:0 --store "$store" \
                 --master-key "$master_key" --throttle-ms 0 --log-level warn "$@" \
                 2>>"$work/ecshotd.log")
  daemon_pid=$!
  at_exit "kill $daemon_pid 2>/dev/null"
  if ! read -r -t 30 line <&"$fd"; then
    echo "bench: ecshotd did not start" >&2
    cat "$work/ecshotd.log" >&2
    return 1
  fi
  port=${line##*:}
}

fleet_start() {
  local count=$1 mode=$2 i dir id ids=()
  fleet_dir="$work/fleet"
  mkdir -p "$fleet_dir"
  for ((i = 1; i <= count; i++)); do
    dir="$fleet_dir/vm$i"
    mkdir "$dir"
    at_exit "vm_kill $dir"
    vm_start "$dir" "$mode" "$dir/qemu.pid" ecshot.sock ctl.sock || return 1
    "$build/bench/ecshot-qmpcmd" "$dir/ctl.sock" stop || return 1
    id=$(printf 'i-fleet%015d' "$i")
    ecshot instance add "$id" --region cn-hangzhou --account 100 --type ecs.g7.large \
      --console "qmp:$dir/ecshot.sock" >/dev/null
    ids+=("$id")
  done
  fleet_ids=$(IFS=,; echo "${ids[*]}")
}

vm_kill() { [ -f "$1/qemu.pid" ] && kill "$(cat "$1/qemu.pid")" 2>/dev/null; }

field() {
  local f
  for f in $2; do [ "${f%%=*}" = "$1" ] && { echo "${f#*=}"; return; }; done
}

# One row of the table: what was measured (med, p95), what it is set
# against (ref_med, ref_p95), ratio = med / ref_med and p95 / ref_p95, the
# aim for the ratio (or the value) and notes. Cells are text: the callers
# format their units ("5.21ms", "312/s", "9.8MB"); "-" when not measured.
row() {
  printf '%-36s %9s %9s %9s %9s %7s %9s %8s  %s\n' "$@"
}

table_header() {
  row row med p95 ref_med ref_p95 ratio ratio_p95 aim notes
}

# skipped NAME WHY: a row that could not be measured here, and why.
skipped() {
  printf '%-36s skipped: %s\n' "$1" "$2"
}
