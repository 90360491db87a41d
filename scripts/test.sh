#!/usr/bin/env bash
# test.sh: every test of ecshot, as CI runs it (.ci/run calls this).
#
#   1. set-up (packages, npm ci), an optimised build and the test guest;
#   2. a throwaway PostgreSQL and Redis (tests/services/, unix sockets in a
#      private directory, stopped at exit), named to every suite by
#      ECSHOT_TEST_PG / ECSHOT_TEST_REDIS_URL (and their directories by
#      ECSHOT_TEST_PG_DIR / ECSHOT_TEST_REDIS_DIR);
#   3. unit tests (cmocka) and integration tests (real QEMU VMs, Alibaba's
#      SDKs from npm) against that build; the integration suite twice: on
#      SQLite + memory:, then on PostgreSQL + Redis (every server a database
#      and a Redis prefix of its own);
#   4. the same suites again on a build with AddressSanitizer and
#      UndefinedBehaviorSanitizer;
#   5. the libFuzzer harnesses of tests/fuzz, ASan+UBSan, a bounded time each;
#   6. the benchmark as a smoke test (it runs and prints; nothing is timed).
# A service that cannot start fails the run (the suites that need it fail
# too: nothing is skipped). Exits non-zero when anything failed; the last
# line counts the suites.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/setup.sh || exit 1

passed=0 failed=0
run() { # run NAME COMMAND...: runs one suite and counts it
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok"
  else failed=$((failed + 1)); echo "=== $name: FAILED"; fi
}

build() { # build DIR [MESON OPTIONS...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then meson setup "$dir" "$@" >/dev/null || return 1; fi
  ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

integration() { # integration BUILD_DIR sqlite|postgresql: the integration suite on those backends
  local store=sqlite limits=memory
  [ "$2" = postgresql ] && store=postgresql limits=redis
  (cd tests/integration && ECSHOT_BUILD="$root/$1" ECSHOT_TEST_STORE=$store ECSHOT_TEST_LIMITS=$limits \
     node --test --test-concurrency=1 ./*.test.mjs)
}

# The shared PostgreSQL and Redis: a short path (unix socket names are
# limited to 107 bytes), readable by the user postgres runs as.
services=$(mktemp -d /tmp/ecshot-test-services.XXXXXX) || exit 1
chmod 755 "$services"
stop_services() { # quiet: the last line stays the count
  tests/services/libvirtd.sh stop "$services/libvirt" >/dev/null 2>&1
  tests/services/redis.sh stop "$services/redis" >/dev/null 2>&1
  tests/services/postgres.sh stop "$services/pg" >/dev/null 2>&1
  rm -rf "$services"
}
trap stop_services EXIT
start_services() {
  export ECSHOT_TEST_PG_DIR=$services/pg ECSHOT_TEST_REDIS_DIR=$services/redis
  ECSHOT_TEST_PG=$(tests/services/postgres.sh start "$ECSHOT_TEST_PG_DIR") &&
    ECSHOT_TEST_REDIS_URL=$(tests/services/redis.sh start "$ECSHOT_TEST_REDIS_DIR") &&
    export ECSHOT_TEST_PG ECSHOT_TEST_REDIS_URL &&
    echo "PostgreSQL: $ECSHOT_TEST_PG" && echo "Redis: $ECSHOT_TEST_REDIS_URL"
}
# libvirtd for the libvirt: console tests: it prints the export lines of
# ECSHOT_TEST_LIBVIRT_LOCAL / _REMOTE and LIBVIRT_AUTH_FILE.
start_libvirtd() {
  local exports
  exports=$(tests/services/libvirtd.sh start "$services/libvirt") && eval "$exports" &&
    echo "libvirt: $ECSHOT_TEST_LIBVIRT_LOCAL and $ECSHOT_TEST_LIBVIRT_REMOTE"
}

run "build" build build || { echo "0 passed, 1 failed"; exit 1; }
run "guest kernel" tests/guest/build.sh
run "services (PostgreSQL, Redis)" start_services
run "services (libvirtd)" start_libvirtd
run "unit tests" meson test -C build --suite unit --print-errorlogs
run "integration tests (SQLite, memory:)" integration build sqlite
run "integration tests (PostgreSQL, Redis)" integration build postgresql
run "deployment files" tests/system/deploy.sh build

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if run "sanitizer build" build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args=-fno-sanitize-recover=all \
      -Dbuildtype=debug; then
  run "unit tests (ASan+UBSan)" meson test -C build-sanitize --suite unit --print-errorlogs
  run "integration tests (ASan+UBSan; SQLite, memory:)" integration build-sanitize sqlite
  run "integration tests (ASan+UBSan; PostgreSQL, Redis)" integration build-sanitize postgresql
fi

# The libFuzzer harnesses (tests/fuzz), built with clang: ECSHOT_FUZZ_SECONDS each (default 30).
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzzing=true \
  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null
run "fuzzing (libFuzzer, ASan+UBSan)" tests/fuzz/run.sh build-fuzz

run "benchmark smoke run" ./bench/run.sh --smoke

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
