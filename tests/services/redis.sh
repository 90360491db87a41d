#!/usr/bin/env bash
# redis.sh: a throwaway Redis server for the tests.
#
#   redis.sh start DIR   start redis-server on a unix socket in DIR (no TCP,
#                        no persistence), print its URL
#   redis.sh stop DIR    stop it
#   redis.sh kill DIR    kill it at once (SIGKILL: a crash)
#
# Returns once the server answers PING; fails loudly when it cannot start.
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop|kill DIR}
dir=${2:?usage: redis.sh start|stop|kill DIR}
command -v redis-server >/dev/null || { echo "redis.sh: redis-server is not installed" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sock=$dir/redis.sock

case $cmd in
start)
  if ! redis-cli -s "$sock" ping >/dev/null 2>&1; then
    : > "$dir/redis.log"
    # --daemonize returns before the socket accepts: wait for the server's
    # own "ready to accept connections" line (tail -f wakes on each write).
    exec {log}< <(exec tail -n +1 -f "$dir/redis.log")
    tail_pid=$!
    redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    ready=0
    timeout 10 grep -m1 -qi "ready to accept connections" <&"$log" && ready=1
    kill "$tail_pid" 2>/dev/null || true
    exec {log}<&-
    [ "$ready" -eq 1 ] && redis-cli -s "$sock" ping >/dev/null ||
      { echo "redis.sh: redis-server did not start:" >&2; cat "$dir/redis.log" >&2; exit 1; }
  fi
  echo "redis+unix://$sock"
  ;;
stop)
  redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
  ;;
kill)
  [ -f "$dir/redis.pid" ] && kill -9 "$(cat "$dir/redis.pid")" 2>/dev/null || true
  rm -f "$sock"
  ;;
*) echo "redis.sh: unknown command $cmd" >&2; exit 2 ;;
esac
