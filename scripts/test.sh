#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test suite: the release build
# (all suites) and an ASan+UBSan build (compute, train and tools suites).
# Ends with one line "N passed, N failed" counting TAP test cases; exits
# non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test || exit 1

# Every suite needs these: a build dir set up earlier without them (say
# -Dvulkan=disabled) is reconfigured, not reused as it is, and a missing
# Vulkan toolchain fails the build instead of dropping the Vulkan tests.
required=(-Dgst=enabled -Dvulkan=enabled -Dtests=true)

build() {  # dir, meson options...
  local dir=$1
  shift
  local again=()
  [ -f "$dir/build.ninja" ] && again=(--reconfigure)
  meson setup "${again[@]}" "$dir" "${required[@]}" "$@" || return 1
  ninja -C "$dir" || return 1
}

passed=0
failed=0
count() {  # dir: adds its results, counting TAP cases inside each test
  local r
  r=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, re, sys
ok = bad = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout") or ""
    if t["result"] == "SKIP":
        continue
    good = t["result"] in ("OK", "EXPECTEDFAIL")
    cases_ok = len(re.findall(r"^ok ", out, re.M))
    cases_bad = len(re.findall(r"^not ok ", out, re.M))
    if cases_ok + cases_bad:
        ok += cases_ok
        bad += max(cases_bad, 0 if good else 1)
    elif good:
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
  ) || r="0 1"
  passed=$((passed + ${r% *}))
  failed=$((failed + ${r#* }))
}

if build build; then
  meson test -C build --print-errorlogs
  count build
else
  echo "release build failed"
  failed=$((failed + 1))
fi

# Full stacks on malloc (GLib and the Vulkan driver have no frame pointers):
# the leak suppressions match on frames inside them.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
# quoted for the sanitizer's own parser: the clone's path may have spaces
export LSAN_OPTIONS="suppressions='$PWD/tests/lsan.supp':print_suppressions=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false; then
  meson test -C build-asan --suite compute --suite train --suite tools \
    --print-errorlogs --timeout-multiplier 4
  count build-asan
else
  echo "sanitizer build failed"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
