#!/usr/bin/env bash
# Puts an `aiobench` command in BIN_DIR (default ~/.local/bin): builds the native library, then
# writes a two-line wrapper that runs this checkout's main.ts with the pinned Deno.
#   scripts/install.sh [BIN_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${1:-$HOME/.local/bin}"
cd "$root"
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out
scripts/deno --version >/dev/null # installs the pinned Deno on first use
mkdir -p "$bin_dir"
printf '#!/bin/sh\nexec %q run -A %q "$@"\n' "$root/scripts/deno" "$root/main.ts" >"$bin_dir/aiobench.part"
chmod +x "$bin_dir/aiobench.part"
mv "$bin_dir/aiobench.part" "$bin_dir/aiobench"
echo "install.sh: wrote $bin_dir/aiobench" >&2
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "install.sh: add $bin_dir to PATH to run it as aiobench" >&2 ;; esac
