#!/usr/bin/env bash
# setup.sh: installs what ecshot needs to build, run and test on Debian, and
# nothing that is already there. Safe to run again. Runs as root, or with
# sudo available for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  gcc meson ninja-build pkg-config binutils
  # libraries
  libmicrohttpd-dev libssl-dev libturbojpeg0-dev libjansson-dev libsqlite3-dev
  libcurl4-openssl-dev libpq-dev libhiredis-dev libvirt-dev libpng-dev libxml2-dev
  # ecshotd's HTTPS (libmicrohttpd's TLS is GnuTLS) and its seccomp filter
  libgnutls28-dev libseccomp-dev
  # the shared parts a deployment of several servers runs on, started by the tests
  postgresql redis-server libvirt-daemon-system libvirt-clients sasl2-bin libsasl2-modules
  # the hypervisor the tests and the demo boot
  qemu-system-x86
  # tests (systemd for systemd-analyze verify of the shipped unit, sqlite3 to
  # look into a store as someone with only the file would)
  libcmocka-dev systemd sqlite3
  # ASan builds of ecshotd link libtirpc at start (src/daemon/meson.build)
  libtirpc-dev
  # fuzzing (tests/fuzz): clang, and libFuzzer from its runtime library
  clang libclang-rt-14-dev
  # bench/cheap.sh: wrk loads ecshotd and an nginx answering the same bytes
  wrk nginx
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts the nginx it installs, with a default site on port 80;
  # bench/cheap.sh runs an nginx of its own and wants none of that.
  if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

# Alibaba's SDKs, the integration tests' clients, pinned by the lock file.
if [ ! -d tests/integration/node_modules ] ||
   [ tests/integration/package-lock.json -nt tests/integration/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in tests/integration"
  (cd tests/integration && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
