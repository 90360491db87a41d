#!/usr/bin/env bash
# run.sh: fuzzes every libFuzzer harness of tests/fuzz for a bounded time.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
#
# BUILD_DIR was set up with clang and -Dfuzzing=true (see README.md);
# SECONDS per harness defaults to $ECSHOT_FUZZ_SECONDS, else 30. For each
# harness: first the inputs of regressions/<harness>/ are replayed once
# (each once crashed, see README.md), then the harness fuzzes a COPY of
# corpus/<harness>/ in a temporary directory for SECONDS: nothing new is ever
# written into the tree. One line per harness tells the executions, their
# rate, the coverage reached and the result. A crash, leak, sanitizer report,
# timeout or broken property keeps its input in BUILD_DIR/fuzz-artifacts/
# (the report follows the summary) and makes the script exit non-zero.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-${ECSHOT_FUZZ_SECONDS:-30}}
here=$(cd "$(dirname "$0")" && pwd)
harnesses=(params sig authorization auth_verify ram ppm png qmp sts)

targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz_$h"); done
ninja -C "$build" "${targets[@]}" >/dev/null || ninja -C "$build" "${targets[@]}" || exit 1

work=$(mktemp -d /tmp/ecshot-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# Sanitizer findings end the run of the harness (libFuzzer keeps the input).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

failed=0
reports=() # logs shown after the summary

# replay HARNESS: runs each regression input once; 0 when none crashes.
replay() {
  local h=$1 dir=$here/regressions/$1
  [ -d "$dir" ] || return 0
  local inputs=("$dir"/*)
  [ -e "${inputs[0]}" ] || return 0
  "$build/tests/fuzz/fuzz_$h" "${inputs[@]}" >"$work/$h.replay.log" 2>&1
}

# stat LOG NAME: a value of libFuzzer's -print_final_stats=1 output.
stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

for h in "${harnesses[@]}"; do
  exe=$build/tests/fuzz/fuzz_$h
  log=$work/$h.log
  if ! replay "$h"; then
    printf '%-14s regressions: FAILED\n' "$h"
    reports+=("$work/$h.replay.log")
    failed=1
    continue
  fi
  corpus=$work/corpus-$h
  mkdir -p "$corpus"
  cp -R "$here/corpus/$h/." "$corpus/"
  # -close_fd_mask=2: the library's log lines would drown the output;
  # libFuzzer and the sanitizers keep a stderr of their own.
  "$exe" "$corpus" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$artifacts/$h-" >"$log" 2>&1
  rc=$?
  execs=$(stat "$log" number_of_executed_units)
  rate=$(stat "$log" average_exec_per_sec)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  corp=$(grep -Eo 'corp: [0-9]+/[0-9]+[bkKM]*b' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    result="CRASHED${artifact:+ ($artifact)}"
    reports+=("$log")
    # Once more with stderr kept: a broken FUZZ_CHECK names its property.
    if [ -n "$artifact" ]; then
      "$exe" "$artifact" >"$work/$h.artifact.log" 2>&1
      reports+=("$work/$h.artifact.log")
    fi
    failed=1
  fi
  printf '%-14s %9s execs %6s/s  %-22s %-16s %s\n' "$h" "${execs:-?}" "${rate:-?}" \
    "${cov:-cov: ?}" "${corp:-}" "$result"
done

for r in "${reports[@]}"; do
  echo "---- $(basename "$r")"
  grep -v -E '^#[0-9]+[[:space:]]' "$r" | tail -n 60   # libFuzzer's progress lines left out
done
if [ $failed -ne 0 ]; then
  echo "fuzzing: a harness failed; replay with: BUILD_DIR/tests/fuzz/fuzz_NAME INPUT"
fi
exit $failed
