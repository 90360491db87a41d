#!/usr/bin/env bash
# bench/peers.sh: ecshot against its peers' path, on the same libvirt domain.
#
# Runs the test guest (vbe=1024x768, TCG) as a domain of a real libvirtd
# (the one already serving qemu:///system, or else tests/services/libvirtd.sh's,
# started here and stopped at the end), with one extra QMP socket for ecshot
# through <qemu:commandline>. Then, N calls each, one after the other:
#   ecshot   whole GetInstanceScreenshot calls through ecshotd on the qmp:
#            console (ecshot-apibench): the reference of every row;
#   virsh    `virsh screenshot DOMAIN FILE` (QEMU writes a PNG), then PNG
#            decode, JPEG and base64 (ecshot-peer virsh);
#   C API    virDomainScreenshot on one connection + stream read + the same
#            (ecshot-peer api), in a tight loop;
#   libvirt: the same ecshotd with the domain registered as a libvirt:
#            console, which takes the PNG path too (for operators choosing
#            between the two console kinds; no aim).
# Ratios are peer / ecshot: how many times faster ecshot is; aim >= 4x.
# Without root, libvirt or a daemon that starts, the rows say
# "skipped: WHY" and the script still succeeds.
#
#   bench/peers.sh [--smoke] [N]     N calls per row (default 300; --smoke: 10)
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

n=300
[ "${1:-}" = --smoke ] && { n=10; shift; }
[ -n "${1:-}" ] && n=$1
uri=qemu:///system
rows=("peer virsh screenshot 1024x768" "peer virDomainScreenshot 1024x768"
      "ecshot libvirt: console 1024x768")

skip_all() {
  local r
  for r in "${rows[@]}"; do skipped "$r" "$1"; done
  exit 0
}

bench_setup
[ -n "${BENCH_IN_TABLE:-}" ] || table_header

[ "$(id -u)" -eq 0 ] || skip_all "needs root (libvirt's qemu:///system)"
for b in virsh libvirtd virtlogd; do
  command -v "$b" >/dev/null || skip_all "$b is not installed (scripts/setup.sh installs libvirt)"
done
qemu_user=libvirt-qemu
id "$qemu_user" >/dev/null 2>&1 || skip_all "no $qemu_user user (libvirt-daemon-system)"

# A daemon already serving qemu:///system (scripts/test.sh's) is used and
# left alone; otherwise ours is started.
if ! virsh -q -c "$uri" version >/dev/null 2>&1; then
  lvdir="$work/libvirtd"
  if ! "$root/tests/services/libvirtd.sh" start "$lvdir" >/dev/null 2>"$work/libvirtd.err"; then
    skip_all "libvirtd did not start: $(grep -v '^$' "$work/libvirtd.err" | head -1)"
  fi
  at_exit "'$root/tests/services/libvirtd.sh' stop '$lvdir' >/dev/null 2>&1"
fi

# QEMU runs as libvirt's user: the domain's files live in a directory of its own.
name="ecshot-test-bench-$$"
domdir=$(mktemp -d /tmp/ecshot-peer.XXXXXX)
at_exit "rm -rf '$domdir'"
chown "$qemu_user:$qemu_user" "$domdir"
chmod 0750 "$domdir"
install -o "$qemu_user" -g "$qemu_user" -m 0644 "$root/tests/guest/ecshot-guest.elf" "$domdir/guest.elf"
install -o "$qemu_user" -g "$qemu_user" -m 0644 /dev/null "$domdir/guest.log"
cat > "$domdir/domain.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$name</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$domdir/guest.elf</kernel>
    <cmdline>vbe=1024x768</cmdline>
  </os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <video><model type='vga'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-qmp'/>
    <qemu:arg value='unix:$domdir/ecshot.sock,server=on,wait=off'/>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='file,id=ecshotdbg,path=$domdir/guest.log'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='isa-debugcon,iobase=0xe9,chardev=ecshotdbg'/>
  </qemu:commandline>
</domain>
EOF
virsh -q -c "$uri" define "$domdir/domain.xml" >/dev/null 2>"$work/virsh.err" ||
  skip_all "virsh define: $(head -1 "$work/virsh.err")"
at_exit "virsh -q -c '$uri' undefine '$name' >/dev/null 2>&1"
virsh -q -c "$uri" start "$name" >/dev/null 2>"$work/virsh.err" ||
  skip_all "virsh start: $(head -1 "$work/virsh.err")"
at_exit "virsh -q -c '$uri' destroy '$name' >/dev/null 2>&1"
vm_wait_ready "$domdir/guest.log" 2>/dev/null || skip_all "the guest did not draw within 30 s"

bench_store
daemon_start
qmp_id=$(printf "i-peerqmp%013d" 1)
lv_id=$(printf "i-peerlv%014d" 1)
ecshot instance add "$qmp_id" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console "qmp:$domdir/ecshot.sock" >/dev/null
ecshot instance add "$lv_id" --region cn-hangzhou --account 100 --type ecs.g7.large \
  --console "libvirt:$uri#$name" >/dev/null

endpoint="http://127.0.0.1:$port"
ours=$("$build/bench/ecshot-apibench" "$endpoint" cn-hangzhou "$qmp_id" "$n")
virsh_line=$("$build/bench/ecshot-peer" virsh "$uri" "$name" "$n")
api_line=$("$build/bench/ecshot-peer" api "$uri" "$name" "$n")
lv=$("$build/bench/ecshot-apibench" "$endpoint" cn-hangzhou "$lv_id" "$n")

# peer_row NAME LINE AIM NOTES: LINE's median and p95 against ecshot's.
peer_row() {
  awk -v name="$1" -v m="$(field median_ms "$2")" -v p="$(field p95_ms "$2")" \
    -v om="$(field median_ms "$ours")" -v op="$(field p95_ms "$ours")" -v aim="$3" -v notes="$4" \
    'BEGIN { printf "%-36s %7.2fms %7.2fms %7.2fms %7.2fms %6.2fx %8.2fx %8s  %s\n",
             name, m, p, om, op, m / om, p / op, aim, notes }'
}
# What the peer's time went on: the shot (PNG), its decode, JPEG + base64.
stages() {
  echo "shot $(field shot_median_ms "$1")ms + png decode $(field decode_median_ms "$1")ms" \
       "+ jpeg+base64 $(field jpeg_median_ms "$1")ms; png $(($(field png_bytes "$1") / 1024)) KB"
}
peer_row "${rows[0]}" "$virsh_line" ">=4x" "$(stages "$virsh_line")"
peer_row "${rows[1]}" "$api_line" ">=4x" "$(stages "$api_line")"
peer_row "${rows[2]}" "$lv" "-" "ecshotd's libvirt backend: the PNG path"
