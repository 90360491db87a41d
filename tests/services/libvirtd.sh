#!/usr/bin/env bash
# libvirtd.sh: a libvirt daemon for the tests, without systemd.
#
#   libvirtd.sh start DIR   start virtlogd and libvirtd with a private configuration in DIR,
#                           print the settings the tests read, as shell "export" lines:
#                             ECSHOT_TEST_LIBVIRT_LOCAL=qemu:///system
#                             ECSHOT_TEST_LIBVIRT_REMOTE=qemu+tcp://127.0.0.1:PORT/system
#                             LIBVIRT_AUTH_FILE=DIR/auth.conf   (the SASL credentials)
#                             ECSHOT_TEST_LIBVIRTD_DIR=DIR
#   libvirtd.sh stop DIR    destroy the test domains (ecshot-test-*), stop both daemons
#   libvirtd.sh restart DIR stop libvirtd alone and start it again: its domains keep
#                           running (QEMU outlives libvirtd), its clients lose their
#                           connections (the tests of reconnection use this)
#
# Runs as root: qemu:///system is the system instance of the QEMU driver, so
# its sockets and state are libvirt's usual ones (/run/libvirt,
# /var/lib/libvirt/qemu, /var/log/libvirt/qemu) and only one such daemon can
# run on the machine; DIR holds everything else: libvirtd.conf, the SASL
# configuration and user database, auth.conf, pid files and the daemon's log.
#   - local:  the unix socket /run/libvirt/libvirt-sock, mode 0700, no authentication
#             (root only), instead of Debian's polkit (no polkit daemon here);
#   - remote: TCP on 127.0.0.1:PORT (ECSHOT_LIBVIRT_TCP_PORT, default 16509), SASL
#             DIGEST-MD5 (libvirt refuses mechanisms that do not encrypt over plain
#             TCP), user "ecshot" with a random password made at the first start
#             and kept in DIR (mode 0600);
#             SASL_CONF_PATH points libvirtd at DIR's sasl2/libvirt.conf, so
#             /etc/sasl2 is left alone;
#   - libvirtd writes QEMU's output through virtlogd, started first (systemd would
#     socket-activate it).
# The defaults of /etc/libvirt/qemu.conf work in this container (guests are
# <domain type='qemu'>, i.e. TCG), with one fix to the machine: without udev,
# /dev/kvm is root:root 0600, so libvirt's QEMU probe (which sees KVM) and its
# access check as the libvirt-qemu user (which does not) disagree, and libvirt
# probes QEMU again on every use: 4-8 s each time, 40 s per domain started.
# The script gives /dev/kvm the owner and mode udev gives it on Debian
# (root:kvm 0660; libvirt-qemu is in group kvm). The first start on a fresh
# machine still probes once (about 12 s) and caches the result in
# /var/cache/libvirt/qemu. Idempotent: "start" on a running daemon
# only prints; fails loudly (the daemon's log on stderr) when it cannot start.
set -euo pipefail
cmd=${1:?usage: libvirtd.sh start|stop DIR}
dir=${2:?usage: libvirtd.sh start|stop DIR}
port=${ECSHOT_LIBVIRT_TCP_PORT:-16509}
user=ecshot
local_uri=qemu:///system
remote_uri="qemu+tcp://127.0.0.1:$port/system"

die() { echo "libvirtd.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (qemu:///system)"
for b in libvirtd virtlogd virsh saslpasswd2; do
  command -v "$b" >/dev/null || die "$b is not installed (libvirt-daemon-system, libvirt-clients, sasl2-bin)"
done
mkdir -p "$dir"
chmod 0700 "$dir"
dir=$(cd "$dir" && pwd)

# Whether the process in pid file $1 is alive and is program $2.
alive() {
  local pid
  [ -f "$1" ] && pid=$(cat "$1") && [ -n "$pid" ] && [ -d "/proc/$pid" ] &&
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# Waits (at most 30 s) until process $1 has exited.
wait_gone() {
  local pid=$1 i
  for ((i = 0; i < 300; i++)); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  return 1
}

print_settings() {
  printf 'export ECSHOT_TEST_LIBVIRT_LOCAL=%q\n' "$local_uri"
  printf 'export ECSHOT_TEST_LIBVIRT_REMOTE=%q\n' "$remote_uri"
  printf 'export LIBVIRT_AUTH_FILE=%q\n' "$dir/auth.conf"
  printf 'export ECSHOT_TEST_LIBVIRTD_DIR=%q\n' "$dir"
}

write_config() {
  cat > "$dir/libvirtd.conf" <<EOF
# libvirtd.conf for the tests (tests/services/libvirtd.sh)
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$port"
auth_tcp = "sasl"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
sasl_allowed_username_list = ["$user"]
log_outputs = "2:file:$dir/libvirtd.log"
EOF
  mkdir -p "$dir/sasl2"
  cat > "$dir/sasl2/libvirt.conf" <<EOF
mech_list: digest-md5
sasldb_path: $dir/passwd.db
EOF
  [ -f "$dir/auth.conf" ] && [ -f "$dir/passwd.db" ] && return 0
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  rm -f "$dir/passwd.db"
  printf '%s' "$password" | saslpasswd2 -p -c -a libvirt -f "$dir/passwd.db" "$user"
  (umask 077; cat > "$dir/auth.conf" <<EOF
[credentials-ecshot]
authname=$user
password=$password

[auth-libvirt-127.0.0.1]
credentials=ecshot

[auth-libvirt-localhost]
credentials=ecshot
EOF
  )
  chmod 0600 "$dir/passwd.db" "$dir/auth.conf"
}

# libvirtd --daemon returns once its sockets listen; a first call waits
# for the QEMU driver to initialise (long only when it probes QEMU). Checked
# with a bound, in case the daemon dies during its start.
wait_ready() {
  local i
  for ((i = 0; i < 300; i++)); do
    virsh -q -c "$local_uri" version >/dev/null 2>&1 && return 0
    alive "$dir/libvirtd.pid" libvirtd || return 1
    sleep 0.1
  done
  return 1
}

# Debian's udev rule for /dev/kvm (see above), when udev did not apply it.
fix_kvm_device() {
  [ -c /dev/kvm ] && getent group kvm >/dev/null || return 0
  [ "$(stat -c %G /dev/kvm)" = kvm ] && return 0
  echo "libvirtd.sh: /dev/kvm: root:kvm 0660, as udev would make it" >&2
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
}

start() {
  if alive "$dir/libvirtd.pid" libvirtd; then
    print_settings
    return
  fi
  [ -S /run/libvirt/libvirt-sock ] && virsh -q -c "$local_uri" version >/dev/null 2>&1 &&
    die "another libvirtd already serves $local_uri; stop it first (its TCP and SASL settings are not ours)"
  if ! alive "$dir/virtlogd.pid" virtlogd; then
    virtlogd --daemon --pid-file "$dir/virtlogd.pid" || die "virtlogd did not start"
  fi
  fix_kvm_device
  write_config
  : > "$dir/libvirtd.log"
  if ! SASL_CONF_PATH="$dir/sasl2" libvirtd --daemon --listen --config "$dir/libvirtd.conf" \
         --pid-file "$dir/libvirtd.pid" || ! wait_ready; then
    echo "libvirtd.sh: libvirtd did not start; its log:" >&2
    cat "$dir/libvirtd.log" >&2
    stop
    exit 1
  fi
  # The remote side too: SASL login over TCP with the credentials just made.
  if ! LIBVIRT_AUTH_FILE="$dir/auth.conf" virsh -q -c "$remote_uri" version >/dev/null </dev/null 2>"$dir/remote-check.err"; then
    echo "libvirtd.sh: libvirtd does not answer on $remote_uri:" >&2
    cat "$dir/remote-check.err" "$dir/libvirtd.log" >&2
    stop
    exit 1
  fi
  print_settings
}

stop_libvirtd() {
  if alive "$dir/libvirtd.pid" libvirtd; then
    local pid
    pid=$(cat "$dir/libvirtd.pid")
    kill "$pid"
    wait_gone "$pid" || die "libvirtd ($pid) did not exit"
  fi
}

stop() {
  if alive "$dir/libvirtd.pid" libvirtd; then
    local name
    for name in $(virsh -q -c "$local_uri" list --all --name 2>/dev/null | grep '^ecshot-test-' || true); do
      virsh -q -c "$local_uri" destroy "$name" >/dev/null 2>&1 || true
      virsh -q -c "$local_uri" undefine "$name" >/dev/null 2>&1 || true
    done
  fi
  stop_libvirtd
  if alive "$dir/virtlogd.pid" virtlogd; then
    local pid
    pid=$(cat "$dir/virtlogd.pid")
    kill "$pid"
    wait_gone "$pid" || die "virtlogd ($pid) did not exit"
  fi
}

case $cmd in
start) start ;;
stop) stop ;;
restart) stop_libvirtd; start ;;
*) echo "libvirtd.sh: unknown command $cmd" >&2; exit 2 ;;
esac
