#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test suite: the release build
# (all suites) and an ASan+UBSan build (compute suite). Ends with one line
# "N passed, N failed" counting TAP test cases; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test || exit 1

build() {  # dir, meson options...
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" || return 1
  fi
  ninja -C "$dir" || return 1
}

passed=0
failed=0
count() {  # dir
  local log=$1/meson-logs/testlog.txt
  local ok bad fails
  ok=$(grep -c '^ok ' "$log" || true)
  bad=$(grep -c '^not ok ' "$log" || true)
  # tests that died without reporting a failed case (crash, timeout)
  fails=$(grep -E '^(Fail|Timeout|Unexpected Pass): ' "$1/meson-logs/testlog.txt" \
    | awk '{s+=$NF} END {print s+0}')
  [ "$bad" -lt "$fails" ] && bad=$fails
  passed=$((passed + ok))
  failed=$((failed + bad))
}

if build build; then
  meson test -C build --print-errorlogs
  count build
else
  echo "release build failed"
  failed=$((failed + 1))
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false; then
  meson test -C build-asan --suite compute --print-errorlogs --timeout-multiplier 4
  count build-asan
else
  echo "sanitizer build failed"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
