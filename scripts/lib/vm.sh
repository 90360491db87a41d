# vm.sh: start the project's test guest under QEMU from a shell script.
# Sourced by scripts/demo.sh and bench/run.sh (the tests use
# tests/integration/lib/vm.mjs).
#
#   vm_start DIR MODE PIDFILE SOCKET...
# boots tests/guest/ecshot-guest.elf with "-append MODE" (text,
# vbe=1024x768, ...), one QMP server socket per SOCKET name (DIR/NAME), and
# returns once the guest has said READY on its debug port, i.e. once its
# picture is on the screen. Fails after 30 s.
#
#   vm_wait_ready LOG
# waits (at most 30 s) until LOG, where a guest's debug port writes, has a
# READY line; for guests started some other way (bench/peers.sh: libvirt).

vm_start() {
  local dir=$1 mode=$2 pidfile=$3; shift 3
  local qmp=() sock
  for sock in "$@"; do qmp+=(-qmp "unix:$dir/$sock,server=on,wait=off"); done
  : > "$dir/guest.log"
  qemu-system-x86_64 -accel tcg -m 32 -nodefaults -vga std -display none \
    -kernel "$root/tests/guest/ecshot-guest.elf" -append "$mode" "${qmp[@]}" \
    -chardev "file,id=dbg,path=$dir/guest.log" -device isa-debugcon,iobase=0xe9,chardev=dbg \
    -daemonize -pidfile "$pidfile" || return 1
  vm_wait_ready "$dir/guest.log"
}

vm_wait_ready() {
  # tail -f wakes on each write; grep stops at the first READY.
  local tail_pid rc=0 vm_fd
  exec {vm_fd}< <(exec tail -n +1 -f "$1")
  tail_pid=$!
  timeout 30 grep -m1 -q READY <&"$vm_fd" || rc=1
  kill "$tail_pid" 2>/dev/null
  exec {vm_fd}<&-
  [ "$rc" -eq 0 ] || echo "vm: the guest did not draw within 30 s ($1)" >&2
  return "$rc"
}
