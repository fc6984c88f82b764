#!/usr/bin/env bash
# DeepSpeed's own NVMe benchmark against aiobench with the same settings, alternating round by
# round (DeepSpeed first in odd rounds, aiobench first in even ones), cell by cell; prints one
# markdown row per cell: E2E GB/s medians with min–max, the aiobench/DeepSpeed ratio, and CPU
# seconds per GiB over each tool's timed region (its process tree, and the kernel's worker
# threads that do the loop device's copies and the block completions), and the requests per IO
# the block device completed over that region (above 1 when the block layer split IOs).
#
#   scripts/bench_vs_deepspeed.sh [--loop | --dir DIR] [--rounds 5] [--size 1G] [--small_size 256M]
#       [--loops 1] [--ops read,write] [--grid full|issue] [--cells REGEX] [--ds auto|legacy|ds_io]
#       [--write_state overwrite|fresh] [--extra "AIOBENCH FLAGS"] [--out FILE.md] [--json FILE]
#       [--run_timeout 180] [--max_steal 5]
#   scripts/bench_vs_deepspeed.sh --render A.json[,B.json...] [--out FILE.md]
#
# --grid full: threads 1,2 x queue depth 8,32 x overlap on/off x io_parallel unset/1/2 with 1M
#   blocks on --size files, per op; plus 4K blocks at queue depth 32 with overlap on --small_size.
#   --grid issue: the cells of issue 12's first table. --cells: only cells whose name matches.
# --ds legacy: DeepSpeed's ds_aio script (csrc/aio/py_test/test_ds_aio.py --handle, the command
#   line aiobench reimplements); those scripts are not in the pip package: they are used from
#   .tools/ds_aio_legacy/ when present, else downloaded there from DeepSpeed's repository at a
#   pinned commit (checked by sha256). --ds ds_io: DeepSpeed's newer `ds_io` (deepspeed.nvme, in
#   the pip package) against aiobench's --folder form. auto (default): legacy when the scripts can
#   be had, else ds_io.
# --write_state overwrite (default): before every write run the files that run writes exist,
#   fully written (what the legacy script finds after its first run): both tools overwrite in
#   place. fresh: they are removed first, so both tools extend new files.
# --run_timeout S (default 180): a run still going after S seconds is taken as hung, its process
#   tree killed and the run repeated (twice at most); hangs are counted in the table.
# --max_steal PCT (default 5): on a shared VM the hypervisor takes CPU time from the machine at
#   random (steal in /proc/stat); a run that lost more than PCT% of the machine's CPU time over
#   its timed region is run again (4 times at most, then the least-stolen run counts), by the same
#   rule for both tools; reruns are counted in the table and each tool's median steal shown.
# The ratio column has a 95% interval (bootstrap over each tool's rounds): a cell whose interval
#   lies wholly below 1.00x is slower beyond its rounds' spread; a line under the table counts them.
# --render: no measuring: the table of saved --json files (a grid measured in parts; a cell in more
#   than one file is taken from the last), in grid order.
# --loop (default) makes an ext4 loop device over /dev/shm (scripts/loopdev.sh; needs root).
#
# On a fresh machine it installs what it needs into .tools/: a venv with torch, ninja and
# deepspeed (pinned below), libaio-dev through apt when root (DeepSpeed's async_io op builds
# against it, on first use, about 6 minutes on 2 cores). Each round (both tools) holds
# /work/cpu.lock when that file exists (see COORDINATION.md); don't wrap this script in it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
me="bench_vs_deepspeed.sh"
die() { echo "$me: $*" >&2; exit 2; }

torch_version="2.9.1" deepspeed_version="0.18.9"
# DeepSpeed's legacy ds_aio benchmark: the last commit of csrc/aio/py_test/ with --read_file,
# --write_file, --threads and --overlap_events (before "DeepNVMe GDS" moved it to --folder).
legacy_commit="b361c72761d97f5a1714a3e91d1f7c36fd3cfdd8"
legacy_files=(
  "test_ds_aio.py 1123abbd31d13470833a8f3bcc75dee0f3654f1049b0b26ba4ac388bda3d6bcf"
  "ds_aio_basic.py 1bd3fd92849734fd57e32f1b0cb5ee751be8da9881854b70c6c584b78b316b3d"
  "ds_aio_handle.py 288738b4b1a6f2bc182911f97969cc2f98ca74d1e5d1a02fcab5b57792b91237"
  "test_ds_aio_utils.py 07f8e1b0c7241585481f9756beb23dd5979a418c70b9521a84d2265d694dd54a"
)

dir="" loop=1 ds="auto" pass=() render=""
while [ $# -gt 0 ]; do
  case "$1" in
    --loop) loop=1; shift ;;
    --dir) dir="${2:?--dir needs a folder}"; loop=0; shift 2 ;;
    --ds) ds="${2:?--ds needs auto, legacy or ds_io}"; shift 2 ;;
    --render) render="${2:?--render needs saved --json files, comma-separated}"; shift 2 ;;
    --rounds|--size|--small_size|--loops|--ops|--grid|--cells|--extra|--out|--json|--write_state|--warmup_loops|--run_timeout|--max_steal)
      pass+=("$1" "${2?$1 needs a value}"); shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
case "$ds" in auto|legacy|ds_io) ;; *) die "--ds $ds: use auto, legacy or ds_io" ;; esac
if [ -n "$render" ]; then
  exec scripts/deno run -A scripts/bench_vs_deepspeed.ts --render "$render" "${pass[@]}"
fi

# Temporary files of everything below (torch leaves a tmp* directory per process and its inductor
# cache in TMPDIR) go to a directory of this run's, removed at the end.
scratch="$(mktemp -d -t bench_vs_deepspeed.XXXXXX)"
export TMPDIR="$scratch"
trap 'rm -rf "$scratch"' EXIT
# DeepSpeed and torch, in a venv of their own. Paths are resolved (.tools may be a symlink): the
# op's JIT build is keyed on its include paths, and another spelling of the same venv rebuilds it.
mkdir -p "$root/.tools"
tools="$(realpath "$root/.tools")"
venv="$tools/dsvenv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import deepspeed, torch" 2>/dev/null; then
  command -v python3 >/dev/null || die "python3 is needed to install DeepSpeed (apt-get install python3-venv)"
  echo "$me: installing torch $torch_version and deepspeed $deepspeed_version into .tools/dsvenv (once)" >&2
  rm -rf "$venv.part"
  python3 -m venv "$venv.part"
  "$venv.part/bin/pip" install -q "torch==$torch_version" ninja "deepspeed==$deepspeed_version" >&2
  rm -rf "$venv" && mv "$venv.part" "$venv"
fi
if [ ! -e /usr/include/libaio.h ]; then
  [ "$(id -u)" -eq 0 ] || die "libaio-dev is missing (DeepSpeed's async_io op builds against it); run: sudo apt-get install -y libaio-dev"
  echo "$me: installing libaio-dev (DeepSpeed's async_io op builds against it)" >&2
  apt-get install -y -q libaio-dev >&2 || { apt-get update -q >&2 && apt-get install -y -q libaio-dev >&2; }
fi
# One build directory per venv path: torch keys the op's build on its include paths, so two
# spellings of one venv sharing a directory would rebuild it back and forth (and a build killed
# midway leaves a lock file that makes every later load wait).
export TORCH_EXTENSIONS_DIR="$tools/torch_extensions/$(printf %s "$venv" | sha256sum | cut -c1-12)"
mkdir -p "$TORCH_EXTENSIONS_DIR"
lock=() lock_cmd=()
[ -e /work/cpu.lock ] && lock=(--lock /work/cpu.lock) lock_cmd=(flock /work/cpu.lock)
# Loading the op builds it when it is missing or stale (about 6 minutes on 2 cores), else returns.
echo "$me: loading DeepSpeed's async_io op (built on first use: about 6 minutes on 2 cores)" >&2
"${lock_cmd[@]}" "$venv/bin/python" -c \
  "from deepspeed.ops.op_builder import AsyncIOBuilder; AsyncIOBuilder().load()" >&2 2>/dev/null \
  || die "DeepSpeed's async_io op did not build; run: $venv/bin/python -c 'from deepspeed.ops.op_builder import AsyncIOBuilder; AsyncIOBuilder().load()'"

# The legacy scripts: from the pip package if it ever ships them, else .tools/ds_aio_legacy/,
# else a download of the pinned commit (checked); without them, ds_io.
legacy_dir=""
pkg_test="$("$venv/bin/python" -c "import deepspeed, os; print(os.path.join(os.path.dirname(deepspeed.__file__), 'ops/csrc/aio/py_test'))")"
fetch_legacy() {
  local into="$tools/ds_aio_legacy" entry name sum
  mkdir -p "$into.part"
  for entry in "${legacy_files[@]}"; do
    name="${entry%% *}" sum="${entry##* }"
    curl -fsS --max-time 20 -o "$into.part/$name" \
      "https://raw.githubusercontent.com/microsoft/DeepSpeed/$legacy_commit/csrc/aio/py_test/$name" || return 1
    echo "$sum  $into.part/$name" | sha256sum -c --quiet - || return 1
  done
  rm -rf "$into" && mv "$into.part" "$into"
}
if [ "$ds" != ds_io ]; then
  if [ -f "$pkg_test/test_ds_aio.py" ] && grep -q -- "--read_file" "$pkg_test/test_ds_aio.py"; then
    legacy_dir="$pkg_test"
  elif [ -f "$tools/ds_aio_legacy/test_ds_aio.py" ]; then
    legacy_dir="$tools/ds_aio_legacy"
  elif fetch_legacy 2>/dev/null; then
    legacy_dir="$tools/ds_aio_legacy"
  else
    rm -rf "$tools/ds_aio_legacy.part"
    [ "$ds" = legacy ] && die "DeepSpeed's legacy ds_aio scripts are not in the pip package and could not be downloaded; use --ds ds_io"
    echo "$me: the legacy ds_aio scripts are not available here: comparing with ds_io (deepspeed.nvme)" >&2
  fi
fi
[ -n "$legacy_dir" ] && ds=legacy || ds=ds_io

# aiobench as users run it: the library as zig/build.zig builds it by default.
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2

loop_name="benchds$$"
cleanup() {
  rm -rf "$scratch"
  if [ "$loop" = 1 ] && [ -n "$dir" ]; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do scripts/loopdev.sh down --name "$loop_name" >/dev/null 2>&1 && break; sleep 1; done
  fi
}
trap cleanup EXIT
if [ "$loop" = 1 ]; then
  dir="$(scripts/loopdev.sh up --size 8G --name "$loop_name" | tail -n 1)"
fi
[ -d "$dir" ] || die "--dir $dir is not a folder"

scripts/deno run -A scripts/bench_vs_deepspeed.ts --dir "$dir" --ds "$ds" \
  ${legacy_dir:+--legacy_dir "$legacy_dir"} --python "$venv/bin/python" --main "$root/main.ts" \
  "${lock[@]}" "${pass[@]}"
