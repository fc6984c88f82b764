#!/usr/bin/env bash
# The one prepared GPU check for `--gpu` (issue 9): host-only vs GPU, bounce vs overlapped, with
# --validate, on a 1 GiB file; prints a small GiB/s table. About 1-3 minutes.
#
# The device machine has no network and no room for our toolchains, so prepare here first:
#   scripts/gpu_check.sh --prepare      # builds the library, packs deno + libaiobench.so into .gpu_carry/
# then, through the device tool, run it there with `.gpu_carry` carried:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu_carry"], timeout_s=420)
# Results: the table on stdout, and $OUT/gpu_check.txt + $OUT/gpu_check.json when $OUT is set.
# Env: GPU_CHECK_DIR (scratch folder, default /tmp/aiobench_gpu_check), GPU_CHECK_SIZE (1G).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
carry="$root/.gpu_carry"

if [ "${1:-}" = "--prepare" ]; then
  set -e
  scripts/zig build --build-file zig/build.zig --prefix zig/zig-out
  mkdir -p "$carry"
  cp zig/zig-out/lib/libaiobench.so "$carry/"
  deno_bin="$(scripts/deno eval 'console.log(Deno.execPath())')"
  if [ ! -f "$carry/deno.xz" ] || [ "$deno_bin" -nt "$carry/deno.xz" ]; then
    echo "packing $deno_bin (about a minute)" >&2
    python3 -c 'import lzma, shutil, sys
with open(sys.argv[1], "rb") as f, lzma.open(sys.argv[2], "wb", preset=6) as g:
    shutil.copyfileobj(f, g, 1 << 20)' "$deno_bin" "$carry/deno.xz.tmp"
    mv "$carry/deno.xz.tmp" "$carry/deno.xz"
  fi
  grep -qx '/.gpu_carry/' .git/info/exclude 2>/dev/null || echo '/.gpu_carry/' >>.git/info/exclude
  du -sh "$carry"
  echo "prepared: now run 'bash scripts/gpu_check.sh' on the device with carry [\".gpu_carry\"]"
  exit 0
fi

# Deno: the project's own where it is installed, else the carried one.
if [ -x "$(ls -d .tools/deno-*/deno 2>/dev/null | head -1)" ]; then
  DENO="$root/scripts/deno"
elif [ -f "$carry/deno.xz" ]; then
  DENO=/tmp/aiobench_deno/deno
  if [ ! -x "$DENO" ]; then
    mkdir -p /tmp/aiobench_deno
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as f, open(sys.argv[2], "wb") as g:
    shutil.copyfileobj(f, g, 1 << 20)' "$carry/deno.xz" "$DENO" && chmod +x "$DENO"
  fi
else
  echo "gpu_check: no Deno here; run 'scripts/gpu_check.sh --prepare' first and carry .gpu_carry" >&2
  exit 2
fi
# The library: built here when Zig is installed, else the carried build.
if [ -x "$(ls -d .tools/zig-*/ziglang/zig 2>/dev/null | head -1)" ]; then
  scripts/zig build --build-file zig/build.zig --prefix zig/zig-out || exit 1
elif [ -f "$carry/libaiobench.so" ]; then
  export AIOBENCH_LIB="$carry/libaiobench.so"
else
  echo "gpu_check: no Zig and no carried libaiobench.so; run --prepare first" >&2
  exit 2
fi
# cuFile from the nvidia-cufile Python package, where the image has one (GDS still needs nvidia-fs).
cufile_lib="$(python3 -c 'import glob, nvidia.cufile
print((sorted(glob.glob(list(nvidia.cufile.__path__)[0] + "/lib/libcufile.so*")) or [""])[0])' 2>/dev/null || true)"
[ -n "$cufile_lib" ] && export AIOBENCH_LIBCUFILE="$cufile_lib"
# libcuda.so.1 from the driver's folder when the loader's cache doesn't list it.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' && [ -e /usr/local/nvidia/lib64/libcuda.so.1 ]; then
  export LD_LIBRARY_PATH="/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

out="${OUT:-/tmp/aiobench_gpu_check_out}"
runs=/tmp/aiobench_gpu_check_runs
rm -rf "$runs" && mkdir -p "$out" "$runs"
log="$out/gpu_check.txt"
: >"$log"
say() { echo "$*" | tee -a "$log"; }

dir="${GPU_CHECK_DIR:-/tmp/aiobench_gpu_check}"
size="${GPU_CHECK_SIZE:-1G}"
rm -rf "$dir" && mkdir -p "$dir"
say "== $(date -u +%FT%TZ) $(uname -srm)"
nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$log"
say "scratch: $(df -hT "$dir" | tail -1)"
say "cufile: ${AIOBENCH_LIBCUFILE:-none}; nvidia-fs: $(cat /proc/driver/nvidia-fs/version 2>/dev/null | head -1 || echo absent)"
buffered=()
if ! dd if=/dev/zero of="$dir/.probe" bs=1M count=1 oflag=direct status=none 2>/dev/null; then
  buffered=(--buffered)
  say "note: O_DIRECT refused in $dir: every run uses --buffered (page cache)"
fi
rm -f "$dir/.probe"

common=(--folder "$dir" --io_size "$size" --block_size 1M --queue_depth 32 --overlap_events
  --loops 3 --warmup_loops 1 --validate --force --keep "${buffered[@]}")

# run NAME [ENV=VALUE...] -- ARGS...: one aiobench run, JSON kept, its stderr in the log.
run() {
  runs_done=$((runs_done + 1))
  local name
  name="$(printf '%02d' "$runs_done")_$1"
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  say "-- $name: ${envs[*]} aiobench $*"
  env "${envs[@]}" timeout 120 "$DENO" run -A main.ts "$@" --json "$runs/$name.json" \
    >"$runs/$name.out" 2>"$runs/$name.err"
  local rc=$?
  echo "$rc" >"$runs/$name.rc"
  sed 's/^/   /' "$runs/$name.err" | tail -5 | tee -a "$log"
  [ "$rc" = 0 ] || say "   exit $rc"
}

runs_done=0
run host_write X=1 -- "${common[@]}"
run host_read X=1 -- "${common[@]}" --read
run gpu_bounce_write AIOBENCH_GPU_MODE=bounce -- "${common[@]}" --gpu
run gpu_bounce_read AIOBENCH_GPU_MODE=bounce -- "${common[@]}" --gpu --read
run gpu_overlap_write AIOBENCH_GPU_MODE=overlap -- "${common[@]}" --gpu
run gpu_overlap_read AIOBENCH_GPU_MODE=overlap -- "${common[@]}" --gpu --read
run gpu_overlap16M_read AIOBENCH_GPU_MODE=overlap AIOBENCH_GPU_CHUNK=16M -- "${common[@]}" --gpu --read
run gpu_overlap_read_iop4 AIOBENCH_GPU_MODE=overlap -- "${common[@]}" --gpu --read --io_parallel 4
run gds_read X=1 -- "${common[@]}" --gpu --use_gds --read

say ""
"$DENO" run -A - "$runs" "$out/gpu_check.json" <<'EOF' | tee -a "$log"
const [dir, jsonOut] = Deno.args;
const rows: string[][] = [["run", "op", "path", "GiB/s (ds_aio task)", "IO-only GiB/s", "file⇄GPU GiB/s", "validate"]];
const all: Record<string, unknown> = {};
for (const e of [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".rc")).sort((a, b) => a.name < b.name ? -1 : 1)) {
  const name = e.name.slice(0, -3);
  const rc = Deno.readTextFileSync(`${dir}/${name}.rc`).trim();
  const err = Deno.readTextFileSync(`${dir}/${name}.err`).trim().split("\n").filter((l) => l.startsWith("aiobench:")).pop();
  let doc: any = null;
  try { doc = JSON.parse(Deno.readTextFileSync(`${dir}/${name}.json`)); } catch { /* failed run */ }
  all[name] = { rc: Number(rc), error: err ?? null, results: doc?.results ?? null, env: doc?.env ?? null };
  if (!doc || doc.results.length === 0) { rows.push([name, "-", "-", "-", "-", "-", `exit ${rc}: ${err ?? "?"}`]); continue; }
  for (const r of doc.results) {
    const g = r.gpu;
    rows.push([name, r.op, g ? (g.mode === "overlap" ? `overlap ${g.chunk_bytes / 2 ** 20}M` : g.mode) : "host",
      r.task_gib_s.toFixed(3), g ? g.io_gib_s.toFixed(3) : "-", g ? g.e2e_gib_s.toFixed(3) : "-", rc === "0" ? "ok" : `exit ${rc}`]);
  }
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd());
Deno.writeTextFileSync(jsonOut, JSON.stringify(all, null, 2));
EOF

say ""
say "-- tests/gpu_test.ts (real GPU test only)"
AIOBENCH_LIBCUDA= "$DENO" test -A --filter "real GPU" tests/gpu_test.ts 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' | tail -8 | tee -a "$log"
rm -rf "$dir"
