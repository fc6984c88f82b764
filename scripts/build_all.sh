#!/usr/bin/env bash
# Cross-builds the stripped native library, ReleaseSafe (asserts run; see docs/performance.md),
# for every Linux CPU aiobench ships for, into dist/lib/<arch>/libaiobench.so (<arch> as
# Deno.build.arch names it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Zig's x86_64-linux-gnu / aarch64-linux-gnu default to glibc 2.17-era symbols: runs on old distros too.
targets=(x86_64:x86_64-linux-gnu aarch64:aarch64-linux-gnu)
for entry in "${targets[@]}"; do
  arch="${entry%%:*}"
  triple="${entry#*:}"
  out="$root/dist/lib/$arch"
  mkdir -p "$out"
  scripts/zig build --build-file zig/build.zig --prefix "$root/dist/zig-out/$arch" \
    --prefix-lib-dir "$out" -Dtarget="$triple" -Doptimize=ReleaseSafe -Dstrip=true
  [ -s "$out/libaiobench.so" ] || { echo "build_all.sh: $out/libaiobench.so was not produced" >&2; exit 1; }
  echo "build_all.sh: $arch ($triple) -> dist/lib/$arch/libaiobench.so ($(stat -c %s "$out/libaiobench.so") bytes)" >&2
done
