#!/usr/bin/env bash
# bench/inventory.sh: is a request as fast with a million instances as with a thousand?
#
# For each store backend (SQLite, and PostgreSQL on a private cluster made
# here with initdb) it builds two inventories, 1 000 and 1 000 000
# instances (two tags each), with `ecshot instance import` (whose
# throughput it prints), starts one ecshotd on each, and measures requests
# per second for one instance of each that exists but is Stopped: every
# call runs the whole request path (V3 signature, nonce, RAM, inventory
# lookup with tags, status check) and is answered IncorrectInstanceStatus
# without touching a hypervisor. ecshot-loadgen pre-signs the calls (each
# with its own nonce) and sends them over a few keep-alive connections.
# Rounds alternate small and big; the median of each is compared:
#   ratio = rps(1M) / rps(1k)        aim: >= 0.9
#
#   bench/inventory.sh [--smoke] [sqlite|postgresql]...
# --smoke: 20 000 instances instead of a million and fewer calls, to prove
# it runs. ECSHOT_BENCH_BIG, _CALLS, _CONNECTIONS, _ROUNDS override sizes.
# The ratios are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

small=1000
big=${ECSHOT_BENCH_BIG:-1000000}
calls=${ECSHOT_BENCH_CALLS:-20000}
conns=${ECSHOT_BENCH_CONNECTIONS:-4}
rounds=${ECSHOT_BENCH_ROUNDS:-3}
if [ "${1:-}" = --smoke ]; then
  big=${ECSHOT_BENCH_BIG:-20000}; calls=${ECSHOT_BENCH_CALLS:-2000}; rounds=${ECSHOT_BENCH_ROUNDS:-1}
  shift
fi
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgresql)
build=${ECSHOT_BUILD:-$root/build}

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
ecshot_bin=$build/src/cli/ecshot
ecshotd_bin=$build/src/daemon/ecshotd
loadgen=$build/bench/ecshot-loadgen

work=$(mktemp -d /tmp/ecshot-inventory.XXXXXX)
daemons=()
pg_dir=""
as_pg=()
cleanup() {
  local pid
  for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_dir" ]; then
    (cd /tmp && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop \
       >/dev/null 2>&1) || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# One master key for every store of the run: it seals the one AccessKey.
master_key=$work/master.key
"$ecshot_bin" master-key create "$master_key" >/dev/null

ak=LTAIbenchinventory00000
sk=benchinventorysecret0000000000
export ALIBABA_CLOUD_ACCESS_KEY_ID=$ak ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk

instance_id() { printf 'i-%020d' "$1"; }

# gen COUNT FILE: COUNT instances as JSON lines; every other one Stopped.
gen() {
  awk -v n="$1" 'BEGIN {
    for (i = 0; i < n; i++)
      printf "{\"id\":\"i-%020d\",\"region\":\"cn-hangzhou\",\"account\":\"100\",\"type\":\"ecs.g7.large\",\"console\":\"qmp:/run/ecshot/vm%d.sock\",\"status\":\"%s\",\"tags\":{\"team\":\"t%d\",\"env\":\"prod\"}}\n",
             i, i, (i % 2 ? "Running" : "Stopped"), i % 100
  }' > "$2"
}

# populate URL COUNT: account, key and COUNT instances; prints the import rate.
populate() {
  local url=$1 count=$2 file="$work/instances-$2.jsonl" t0 t1
  [ -f "$file" ] || gen "$count" "$file"
  "$ecshot_bin" --store "$url" account create 100
  "$ecshot_bin" --store "$url" --master-key "$master_key" key create 100 --id "$ak" \
    --secret "$sk" >/dev/null
  t0=$(date +%s.%N)
  "$ecshot_bin" --store "$url" instance import "$file" >/dev/null
  t1=$(date +%s.%N)
  # Measure the steady state, not autovacuum catching up with the import.
  case $url in postgres*) psql -q "$url" -c "VACUUM ANALYZE" ;; esac
  awk -v n="$count" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "  import %8d instances: %6.2f s (%6.0f instances/s)\n", n, b - a, n / (b - a) }'
}

# start_daemon URL: starts ecshotd on the store; its port goes to $port.
start_daemon() {
  local out="$work/ecshotd-${#daemons[@]}" i
  "$ecshotd_bin" --listen 127.0.0.1:0 --store "$1" --master-key "$master_key" --log-level warn \
    >"$out.out" 2>"$out.log" &
  daemons+=($!)
  for i in $(seq 300); do
    if grep -q 'listening on' "$out.out" 2>/dev/null; then
      port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$out.out")
      return
    fi
    sleep 0.1
  done
  echo "inventory: ecshotd did not start" >&2; cat "$out.log" >&2; exit 1
}

# rps PORT COUNT: requests per second for the Stopped instance in the middle.
rps() {
  local id line
  id=$(instance_id $(( ($2 / 2) / 2 * 2 )))
  line=$("$loadgen" "http://127.0.0.1:$1" cn-hangzhou "$id" "$calls" "$conns")
  echo "$line" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bench NAME SMALL_URL BIG_URL
bench() {
  local name=$1 p_small p_big r s=() b=() ms mb
  echo "$name:"
  populate "$2" "$small"
  populate "$3" "$big"
  start_daemon "$2"; p_small=$port
  start_daemon "$3"; p_big=$port
  for r in $(seq "$rounds"); do
    s+=("$(rps "$p_small" "$small")")
    b+=("$(rps "$p_big" "$big")")
  done
  ms=$(median "${s[@]}"); mb=$(median "${b[@]}")
  awk -v name="$name" -v small="$small" -v big="$big" -v ms="$ms" -v mb="$mb" \
    -v rs="${s[*]}" -v rb="${b[*]}" 'BEGIN {
      printf "  %-10s %8d instances: %8.0f req/s   (rounds: %s)\n", name, small, ms, rs
      printf "  %-10s %8d instances: %8.0f req/s   (rounds: %s)\n", name, big, mb, rb
      printf "  %-10s ratio %d/%d: %.3f   (aim >= 0.9)\n", name, big, small, mb / ms
    }'
}

setup_postgresql() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$pg_bin/initdb" ] || { echo "inventory: no PostgreSQL server (initdb) installed" >&2; exit 1; }
  pg_dir="$work/pg"
  mkdir -p "$pg_dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$work" "$pg_dir"
    as_pg=(runuser -u postgres --)
  fi
  (cd /tmp && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust >/dev/null)
  (cd /tmp && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
     -o "-k $pg_dir -p 5432 -c listen_addresses=''" start >/dev/null)
  local db
  for db in bench_small bench_big; do
    psql -q "postgresql:///postgres?host=$pg_dir&port=5432&user=postgres" \
      -c "CREATE DATABASE $db ENCODING 'UTF8' TEMPLATE template0"
  done
}

echo "ecshot inventory bench: $small vs $big instances, $calls calls x $rounds rounds," \
     "$conns connections, $(nproc) cores"
for backend in "${backends[@]}"; do
  case $backend in
    sqlite)
      bench sqlite "sqlite:$work/small.db" "sqlite:$work/big.db" ;;
    postgresql)
      setup_postgresql
      pg="host=$pg_dir&port=5432&user=postgres"
      bench postgresql "postgresql:///bench_small?$pg" "postgresql:///bench_big?$pg" ;;
    *) echo "inventory: unknown backend $backend (sqlite, postgresql)" >&2; exit 2 ;;
  esac
done
