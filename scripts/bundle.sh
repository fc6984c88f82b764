#!/usr/bin/env bash
# `deno task bundle`: dist/aiobench.js, one JavaScript file holding the whole program and the
# native library for x86_64 and aarch64 Linux; it runs anywhere with `deno run -A aiobench.js`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/build_all.sh
scripts/deno run --allow-read=. --allow-write=ffi scripts/gen_embedded.ts
mkdir -p dist
# The entry is generated (like the library module it imports); import.meta.url is the bundle's own.
cat >dist/_bundle_main.ts <<'ENTRY'
#!/usr/bin/env -S deno run -A
import { libraries } from "../ffi/_embedded_libs.ts";
import { startBundle } from "../scripts/bundle_entry.ts";
await startBundle(libraries, import.meta.url);
ENTRY
scripts/deno bundle --quiet --platform deno -o dist/aiobench.js.part dist/_bundle_main.ts
# The bundle must not reach back into the checkout or the network for code.
if grep -nE '^import .* from "(npm|jsr|https?):' dist/aiobench.js.part >&2; then
  echo "bundle.sh: dist/aiobench.js would import the modules above at run time; bundle them" >&2
  exit 1
fi
chmod +x dist/aiobench.js.part
mv dist/aiobench.js.part dist/aiobench.js
echo "bundle.sh: wrote dist/aiobench.js ($(stat -c %s dist/aiobench.js) bytes); run it with: deno run -A dist/aiobench.js --help" >&2
