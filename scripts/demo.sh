#!/usr/bin/env bash
# demo.sh: the main job, end to end, on the embedded default.
#
# Builds ecshot, boots a QEMU VM (the project's test guest, drawing a
# 1024x768 picture), starts ecshotd on 127.0.0.1:8080 with an SQLite store
# and in-memory limits, registers an account, an AccessKey and the VM as an
# instance, takes a screenshot through the signed API with the `ecshot`
# client and saves the JPEG. The AccessKey secret is sealed in the store
# under the master key var/master.key, made on the first run. ecshotd and
# the VM keep running afterwards so that you can call them;
# `scripts/demo.sh stop` stops both. Running it again starts afresh (the
# store, the master key and the AccessKey are kept).
#
# Environment: ECSHOT_PORT (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/vm.sh
state=var/demo
port=${ECSHOT_PORT:-8080}
store=sqlite:$root/var/ecshot.db
master_key=$root/var/master.key
account=1234567890123456
region=cn-hangzhou
instance=i-ecshotdemo0000000001

stop_demo() {
  for name in ecshotd qemu; do
    if [ -f "$state/$name.pid" ]; then
      pid=$(cat "$state/$name.pid")
      kill "$pid" 2>/dev/null && echo "demo: stopped $name ($pid)" || true
      rm -f "$state/$name.pid"
    fi
  done
  if [ -f "$state/rundir" ]; then rm -rf "$(cat "$state/rundir")"; rm -f "$state/rundir"; fi
}

if [ "${1:-}" = stop ]; then stop_demo; exit 0; fi

./scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
tests/guest/build.sh >/dev/null
stop_demo >/dev/null

mkdir -p "$state"
chmod 700 var "$state"

# The VM. Its QMP socket goes in a private directory: a socket is a door
# into the hypervisor, and only ecshotd should find it.
rundir=$(mktemp -d /tmp/ecshot-demo.XXXXXX)
echo "$rundir" > "$state/rundir"
vm_start "$rundir" "vbe=1024x768" "$state/qemu.pid" qmp.sock
echo "demo: VM running (pid $(cat "$state/qemu.pid")), console qmp:$rundir/qmp.sock"

# The master key: whoever holds it and the store holds the secrets.
if [ ! -f "$master_key" ]; then
  echo "demo: master key $(build/src/cli/ecshot master-key create "$master_key") in $master_key"
fi

# The inventory.
ecshot() { build/src/cli/ecshot --store "$store" --master-key "$master_key" "$@"; }
ecshot account create "$account" 2>/dev/null || true
# A store from an older demo may hold its secret in the clear: seal it.
ecshot key rotate-master >/dev/null
if [ ! -s "$state/credentials" ]; then
  (umask 077; ecshot key create "$account" > "$state/credentials")
fi
read -r ak sk < "$state/credentials"
ecshot instance remove "$instance" 2>/dev/null || true
ecshot instance add "$instance" --region "$region" --account "$account" \
  --type ecs.g7.large --console "qmp:$rundir/qmp.sock" --tag env=demo

# The server. It prints one line once it listens; reading that line is the
# wait, so there is no guessing with sleeps.
exec 3< <(exec build/src/daemon/ecshotd --listen "127.0.0.1:$port" --store "$store" \
            --master-key "$master_key" 2>> "$state/ecshotd.log")
echo $! > "$state/ecshotd.pid"
if ! read -r -t 30 line <&3; then
  echo "demo: ecshotd did not start; see $state/ecshotd.log" >&2
  tail -5 "$state/ecshotd.log" >&2
  exit 1
fi
exec 3<&-
echo "demo: ecshotd (pid $(cat "$state/ecshotd.pid")) ${line#ecshotd: }"

# The screenshot, through the signed API (V3, as Alibaba's SDKs sign).
ALIBABA_CLOUD_ACCESS_KEY_ID=$ak ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk \
  build/src/cli/ecshot screenshot --endpoint "http://127.0.0.1:$port" \
  --region "$region" --instance "$instance" -o "$state/screenshot.jpg"

cat <<EOT

The screenshot is $root/$state/screenshot.jpg.
ecshotd is still serving on http://127.0.0.1:$port (log: $state/ecshotd.log).

Call it yourself (one screenshot per instance per 10 seconds):

  export ALIBABA_CLOUD_ACCESS_KEY_ID=$ak
  export ALIBABA_CLOUD_ACCESS_KEY_SECRET=$sk
  build/src/cli/ecshot screenshot --endpoint http://127.0.0.1:$port \\
      --region $region --instance $instance -o shot.jpg

or with Alibaba's Node.js SDK (npm i @alicloud/ecs20140526 @alicloud/openapi-client):

  const Ecs = require('@alicloud/ecs20140526'), { Config } = require('@alicloud/openapi-client');
  const client = new Ecs.default(new Config({ accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID,
    accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    endpoint: '127.0.0.1:$port', protocol: 'http', regionId: '$region' }));
  const r = await client.getInstanceScreenshot(new Ecs.GetInstanceScreenshotRequest(
    { regionId: '$region', instanceId: '$instance' }));
  require('fs').writeFileSync('shot.jpg', Buffer.from(r.body.screenshot, 'base64'));

Stop the server and the VM with: scripts/demo.sh stop
EOT
