#!/usr/bin/env bash
# deno fmt --check, deno lint, deno check, deno doc --lint, zig fmt --check: the project's static checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/deno fmt --check
scripts/deno lint
scripts/deno check main.ts mod.ts lib/ ffi/ tests/ scripts/*.ts
scripts/deno doc --lint mod.ts
scripts/zig fmt --check zig/src zig/build.zig
