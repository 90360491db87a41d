#!/usr/bin/env bash
# test.sh: every test of ecshot, as CI runs it (.ci/run calls this).
#
#   1. set-up (packages, npm ci), an optimised build and the test guest;
#   2. unit tests (cmocka) and integration tests (real QEMU VMs, real SQLite,
#      Alibaba's SDKs from npm) against that build;
#   3. the same two suites again on a build with AddressSanitizer and
#      UndefinedBehaviorSanitizer;
#   4. the benchmark as a smoke test (it runs and prints; nothing is timed).
# Exits non-zero when anything failed; the last line counts the suites.
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

integration() { # integration BUILD_DIR
  (cd tests/integration && ECSHOT_BUILD="$root/$1" node --test --test-concurrency=1 ./*.test.mjs)
}

run "build" build build || { echo "0 passed, 1 failed"; exit 1; }
run "guest kernel" tests/guest/build.sh
run "unit tests" meson test -C build --suite unit --print-errorlogs
run "integration tests" integration build
run "deployment files" tests/system/deploy.sh build

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if run "sanitizer build" build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args=-fno-sanitize-recover=all \
      -Dbuildtype=debug; then
  run "unit tests (ASan+UBSan)" meson test -C build-sanitize --suite unit --print-errorlogs
  run "integration tests (ASan+UBSan)" integration build-sanitize
fi

run "benchmark smoke run" ./bench/run.sh --smoke

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
