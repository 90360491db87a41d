#!/usr/bin/env bash
# postgres.sh: a throwaway PostgreSQL server for the tests.
#
#   postgres.sh start DIR   initdb into DIR (once), start the server listening
#                           only on a unix socket in DIR, print its admin URL
#   postgres.sh stop DIR    stop it (fast shutdown)
#   postgres.sh kill DIR    stop it at once (immediate shutdown: a crash)
#
# Nothing listens on TCP, so parallel runs and other servers never clash.
# Fails loudly (non-zero, reason on stderr) when the server cannot start.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop|kill DIR}
dir=${2:?usage: postgres.sh start|stop|kill DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "postgres.sh: PostgreSQL is not installed" >&2; exit 1; }
port=54329

# PostgreSQL refuses to run as root; the tests' machine runs as root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -p $port -c listen_addresses= -c fsync=off -c max_connections=300" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
  fi
  echo "postgresql:///postgres?host=$dir&port=$port&user=postgres"
  ;;
stop|kill)
  mode=fast; [ "$cmd" = kill ] && mode=immediate
  as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
  ;;
*) echo "postgres.sh: unknown command $cmd" >&2; exit 2 ;;
esac
