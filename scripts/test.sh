#!/usr/bin/env bash
# Runs every test: builds the native library, runs the Zig unit tests, then the Deno suite.
# Ends with one line: "N passed, N failed[, N skipped]". Extra args go to `deno test`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log="$(mktemp)"

# The suite runs the library as users get it: zig/build.zig's default, ReleaseSafe (every assert
# executes), also where a test builds it; tests/ffi_invariants_test.ts checks the loaded build.
trap 'rm -f "$log"' EXIT
unset AIOBENCH_OPTIMIZE
export AIOBENCH_EXPECT_BUILD=ReleaseSafe
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out || { echo "0 passed, 1 failed"; exit 1; }

# Static checks count as one test: formatting, lint, types and zig fmt must be clean.
check_failed=0
if [ "${AIOBENCH_SKIP_CHECK:-0}" != 1 ]; then
  if scripts/check.sh >"$log" 2>&1; then echo "static checks: ok"; else cat "$log"; check_failed=1; fi
fi

zig_passed=0 zig_failed=0 zig_skipped=0
if scripts/zig build --build-file zig/build.zig test --summary all >"$log" 2>&1; then
  zig_passed=$(grep -oE '[0-9]+/[0-9]+ tests passed' "$log" | head -1 | cut -d/ -f1)
  # A Zig test that can't run here (error.SkipZigTest: e.g. no root to see physical pages).
  zig_skipped=$(grep -E '^Build Summary:' "$log" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
else
  cat "$log"
  zig_failed=1
fi
echo "zig: ${zig_passed:-0} passed, $zig_failed failed, ${zig_skipped:-0} skipped"

# The MPI tests launch real Open MPI and MPICH: install them here (one time, into .tools/mpi);
# when that can't be done the MPI tests skip with the reason.
if scripts/install_mpi.sh >"$log" 2>&1; then
  echo "mpi: $(cut -d' ' -f1,2 "$log" | paste -sd, -)"
else
  echo "mpi: not installed, the MPI tests will be skipped: $(grep "can't" "$log" | head -1)"
fi

scripts/deno test -A --quiet "$@" tests/ 2>&1 | tee "$log"
deno_rc=${PIPESTATUS[0]}
summary=$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \|' | tail -1)
passed=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
failed=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
# Skipped tests and steps are Deno's "ignored" ones (their names carry the reason): "N ignored (M steps)".
ignored=$(echo "$summary" | grep -oE '[0-9]+ ignored' | grep -oE '[0-9]+' || echo 0)
ignored_steps=$(echo "$summary" | grep -oE 'ignored \([0-9]+ steps?\)' | grep -oE '[0-9]+' || echo 0)
[ -z "$summary" ] && [ "$deno_rc" -ne 0 ] && failed=$((failed + 1))
passed=$(( ${passed:-0} + ${zig_passed:-0} + (check_failed == 0 ? 1 : 0) ))
failed=$(( ${failed:-0} + zig_failed + check_failed ))
skipped=$(( ${ignored:-0} + ${ignored_steps:-0} + ${zig_skipped:-0} ))
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ] && [ "$deno_rc" -eq 0 ]
