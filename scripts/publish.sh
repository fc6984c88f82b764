#!/usr/bin/env bash
# Publishes the JSR module with the native libraries inside: cross-builds them, writes them into
# ffi/embedded_libs.ts for the duration of `deno publish`, then restores the empty checkout stub.
# Usage: scripts/publish.sh [--dry-run] [other deno publish flags]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stub="$(mktemp)"
cp ffi/embedded_libs.ts "$stub"
trap 'cp "$stub" ffi/embedded_libs.ts; rm -f "$stub"' EXIT
scripts/build_all.sh
scripts/deno run --allow-read=. --allow-write=ffi scripts/gen_embedded.ts dist/lib ffi/embedded_libs.ts
scripts/deno publish --allow-dirty "$@"
