#!/usr/bin/env bash
# deploy.sh: checks the files a deployment takes from dist/:
#  - each systemd unit passes `systemd-analyze verify` without a single
#    warning (ExecStart pointed at the built binary, since the unit names the
#    installed path);
#  - each shipped configuration is accepted by `ecshotd --check` (its
#    master key file, /etc/ecshot/master.key, pointed at one made here with
#    `ecshot master-key create`), and a broken one is refused, as are a
#    configuration without a master key and a key file open to others.
# Usage: deploy.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: deploy.sh BUILD_DIR}
ecshotd=$(cd "$build" && pwd)/src/daemon/ecshotd
ecshot=$(cd "$build" && pwd)/src/cli/ecshot
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

"$ecshot" master-key create "$tmp/master.key" >/dev/null
check_conf() {
  local conf=$1
  sed "s|/etc/ecshot/master.key|$tmp/master.key|" "$conf" > "$tmp/$(basename "$conf")"
  "$ecshotd" --config "$tmp/$(basename "$conf")" --check
}
for conf in dist/*.conf; do check "$conf" check_conf "$conf"; done

printf 'listen 127.0.0.1:8080\nstore sqlite:x.db\nmaster-key %s\njpeg-quality 500\n' \
  "$tmp/master.key" > "$tmp/bad.conf"
refuses_bad_config() { ! "$ecshotd" --config "$tmp/bad.conf" --check 2>/dev/null; }
check "a configuration with jpeg-quality 500 is refused" refuses_bad_config

printf 'listen 127.0.0.1:8080\nstore sqlite:x.db\n' > "$tmp/keyless.conf"
refuses_keyless_config() {
  ! "$ecshotd" --config "$tmp/keyless.conf" --check 2>"$tmp/err" &&
    grep -q -- '--master-key FILE is required' "$tmp/err"
}
check "a configuration without a master key is refused" refuses_keyless_config

cp "$tmp/master.key" "$tmp/open.key" && chmod 0644 "$tmp/open.key"
refuses_open_key() {
  ! "$ecshotd" --config "$tmp/ecshotd.conf" --master-key "$tmp/open.key" --check 2>"$tmp/err" &&
    grep -q 'open.key is open to group or others' "$tmp/err"
}
check "a master key file open to others is refused" refuses_open_key

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
