#!/usr/bin/env bash
# deploy.sh: checks the files a deployment takes from dist/:
#  - each systemd unit passes `systemd-analyze verify` without a single
#    warning (ExecStart pointed at the built binary, since the unit names the
#    installed path);
#  - each shipped configuration is accepted by `ecshotd --check`, and a
#    broken one is refused.
# Usage: deploy.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: deploy.sh BUILD_DIR}
ecshotd=$(cd "$build" && pwd)/src/daemon/ecshotd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $name"
  else failed=$((failed + 1)); echo "not ok - $name"; fi
}

verify_unit() {
  local unit=$1 out
  sed "s|/usr/local/bin/ecshotd|$ecshotd|" "$unit" > "$tmp/$(basename "$unit")"
  out=$(systemd-analyze verify "$tmp/$(basename "$unit")" 2>&1) && [ -z "$out" ] ||
    { echo "$out"; return 1; }
}
for unit in dist/systemd/*.service; do check "$unit" verify_unit "$unit"; done

for conf in dist/*.conf; do check "$conf" "$ecshotd" --config "$conf" --check; done

printf 'listen 127.0.0.1:8080\nstore sqlite:x.db\njpeg-quality 500\n' > "$tmp/bad.conf"
refuses_bad_config() { ! "$ecshotd" --config "$tmp/bad.conf" --check 2>/dev/null; }
check "a configuration with jpeg-quality 500 is refused" refuses_bad_config

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
