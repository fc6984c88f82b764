#!/usr/bin/env bash
# `deno task compile`: dist/aiobench, a single executable (Deno runtime + program + native library),
# made by `deno compile` from the bundle. Extra arguments go to `deno compile` (e.g. --target).
# deno compile needs `denort` (the slim runtime): from DENORT_BIN, or Deno's download cache.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/toolchain.sh
case "$(uname -m)" in
  x86_64) triple=x86_64-unknown-linux-gnu ;;
  aarch64) triple=aarch64-unknown-linux-gnu ;;
  *) triple="$(uname -m)-unknown-linux-gnu" ;;
esac
cached="${DENO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deno}/dl/release/v$DENO_VERSION/denort-$triple.zip"
if [ -n "${DENORT_BIN:-}" ]; then
  [ -f "$DENORT_BIN" ] && [ -x "$DENORT_BIN" ] || {
    echo "compile.sh: DENORT_BIN=$DENORT_BIN is not an executable file; point it at a denort $DENO_VERSION binary for $triple" >&2
    exit 2
  }
elif [ ! -f "$cached" ]; then
  echo "compile.sh: deno compile needs denort $DENO_VERSION, which can't be downloaded here: set DENORT_BIN to a denort $DENO_VERSION binary for $triple (from denort-$triple.zip of the Deno $DENO_VERSION release) and rerun" >&2
  exit 2
fi
scripts/bundle.sh
scripts/deno compile --quiet -A --no-check --output dist/aiobench "$@" dist/aiobench.js
# The plain deno CLI as DENORT_BIN yields a binary that ignores the program and prints Deno's help.
if dist/aiobench --help 2>&1 | grep -q "A modern JavaScript and TypeScript runtime"; then
  rm -f dist/aiobench
  echo "compile.sh: dist/aiobench runs Deno's CLI, not aiobench: DENORT_BIN=${DENORT_BIN:-} is not denort" >&2
  exit 1
fi
echo "compile.sh: wrote dist/aiobench ($(stat -c %s dist/aiobench) bytes)" >&2
