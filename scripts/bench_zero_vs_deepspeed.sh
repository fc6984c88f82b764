#!/usr/bin/env bash
# DeepSpeed's own ZeRO-3 optimizer swapper (pip deepspeed + torch, CPU tensors, its async_io op
# built against libaio) against `aiobench zero`, for the same model, DeepSpeed config and folder.
# Prints a markdown table: bytes per step (must be equal), swap files (names and sizes, must be
# equal) and seconds per step side by side with their ratio. DeepSpeed runs twice: unchanged
# (where it stops without a GPU is reported) and with pinning emulated (see the .py).
#
#   scripts/bench_zero_vs_deepspeed.sh [--loop | --dir DIR] [--hidden 1024] [--layers 8]
#       [--vocab 50304] [--sub_group_size 20000000] [--steps 3] [--variants partitioned,pipelined]
#
# --loop (default) makes an ext4 loop device over /dev/shm (scripts/loopdev.sh, needs root); the
# whole measured round holds /work/cpu.lock when that file exists (see COORDINATION.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
me="bench_zero_vs_deepspeed.sh"
die() { echo "$me: $*" >&2; exit 2; }

dir="" loop=1 hidden=1024 layers=8 vocab=50304 sub_group=20000000 steps=3
variants="partitioned,pipelined"
while [ $# -gt 0 ]; do
  case "$1" in
    --loop) loop=1; shift ;;
    --dir) dir="${2:?--dir needs a folder}"; loop=0; shift 2 ;;
    --hidden) hidden="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --sub_group_size) sub_group="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --variants) variants="$2"; shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done

# Real paths: torch rebuilds its extension when the interpreter's or the build folder's path
# changes, and other users of the shared .tools/ build it from the real path.
mkdir -p "$root/.tools"
tools="$(realpath "$root/.tools")"
venv="$tools/dsvenv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import deepspeed, torch" 2>/dev/null; then
  echo "$me: installing torch and deepspeed into .tools/dsvenv (once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.9.1 ninja deepspeed==0.18.9
fi
# Our own build of DeepSpeed's op: torch rebuilds a shared one whenever another user's paths differ.
export TORCH_EXTENSIONS_DIR="$tools/torch_extensions_zero"
mkdir -p "$TORCH_EXTENSIONS_DIR"
# DeepSpeed mlocks its page-locked buffers and, when mlock fails, does its IO on a null buffer
# without a word (its IO errors are ignored). Where RLIMIT_MEMLOCK can't be raised (containers
# without CAP_SYS_RESOURCE), mlock becomes a no-op through LD_PRELOAD: the memory stays pageable,
# which O_DIRECT handles (the kernel pins the pages of each IO), as aiobench's own buffers are.
preload=""
if ! (ulimit -l unlimited) 2>/dev/null; then
  shim="$tools/zero_nomlock/libnomlock.so"
  if [ ! -e "$shim" ]; then
    mkdir -p "$(dirname "$shim")"
    printf '%s\n' '#include <stddef.h>' 'int mlock(const void *a, size_t n) { (void)a; (void)n; return 0; }' \
      'int munlock(const void *a, size_t n) { (void)a; (void)n; return 0; }' >"$shim.c"
    cc -shared -fPIC -O2 -o "$shim" "$shim.c" || die "cc could not build $shim (needed: RLIMIT_MEMLOCK is $(ulimit -l) KiB)"
  fi
  preload="$shim"
  echo "$me: RLIMIT_MEMLOCK is $(ulimit -l) KiB and can't be raised: DeepSpeed's mlock is a no-op ($shim)" >&2
fi
[ -e /usr/include/libaio.h ] || die "libaio-dev is missing (DeepSpeed's async_io op needs it): apt-get install -y libaio-dev"

work="$(mktemp -d)"
loop_name="zero_vs_ds_$$"
cleanup() {
  rm -rf "$work"
  if [ "$loop" = 1 ] && [ -n "${dir:-}" ]; then scripts/loopdev.sh down --name "$loop_name" >&2 || true; fi
}
trap cleanup EXIT
if [ "$loop" = 1 ]; then
  dir="$(scripts/loopdev.sh up --size 4G --name "$loop_name" | tail -n 1)"
fi
[ -d "$dir" ] || die "--dir $dir is not a folder"

lock=()
[ -e /work/cpu.lock ] && lock=(flock /work/cpu.lock)

config() { # $1 = variant → ds_config.json on stdout
  local pipeline=false count=4
  [ "$1" = pipelined ] && pipeline=true count=12
  cat <<EOF
{"zero_optimization": {"stage": 3, "sub_group_size": $sub_group,
  "offload_optimizer": {"device": "nvme", "nvme_path": "$dir", "buffer_count": $count,
                        "pipeline_read": $pipeline, "pipeline_write": $pipeline}},
 "aio": {"block_size": 1048576, "queue_depth": 8, "intra_op_parallelism": 1,
         "single_submit": false, "overlap_events": true},
 "bf16": {"enabled": true}}
EOF
}

model=(--hidden "$hidden" --layers "$layers" --vocab "$vocab")
aiobench=(scripts/deno run -A main.ts zero)
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2

round() {
  local v="$1" cfg="$work/$1.json"
  config "$v" >"$cfg"
  "${aiobench[@]}" --ds_config "$cfg" "${model[@]}" --dry_run --json "$work/$v.plan.json" >&2
  for pinning in stock emulated; do
    local log="$work/$v.ds.$pinning.log"
    # A failed mlock would make DeepSpeed's numbers meaningless (see above): refuse them.
    if ! (ulimit -l unlimited 2>/dev/null; LD_PRELOAD="$preload" exec "$venv/bin/python" \
      scripts/bench_zero_vs_deepspeed.py --plan "$work/$v.plan.json" --config "$cfg" \
      --steps "$steps" --out "$work/$v.ds.$pinning.json" --pinning "$pinning") >"$log" 2>&1 ||
      [ ! -s "$work/$v.ds.$pinning.json" ] || grep -q "mlock failed" "$log"; then
      echo "DeepSpeed ($pinning) failed to run:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    grep -E '^deepspeed step' "$log" >&2 || true
    rm -rf "$dir/zero_stage_3"
  done
  for engine in libaio io_uring; do
    "${aiobench[@]}" --ds_config "$cfg" "${model[@]}" --steps "$steps" --engine "$engine" \
      --json "$work/$v.aiobench.$engine.json" >/dev/null
  done
}

IFS=, read -r -a list <<<"$variants"
for v in "${list[@]}"; do
  echo "$me: $v: DeepSpeed (stock, then pinning emulated), then aiobench zero (libaio, io_uring)" >&2
  "${lock[@]}" bash -c "$(declare -p work dir steps sub_group venv model aiobench preload); $(declare -f round config); round $v"
done

"$venv/bin/python" - "$work" "$dir" "$steps" "${list[@]}" <<'PY'
import json, statistics, sys
work, folder, steps, variants = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
gib = 2**30
print(f"\nfolder {folder}; {steps} measured steps after one warm-up; medians\n")
for v in variants:
    plan = json.load(open(f"{work}/{v}.plan.json"))
    stock = json.load(open(f"{work}/{v}.ds.stock.json"))
    ds = json.load(open(f"{work}/{v}.ds.emulated.json"))
    m = plan["model"]
    print(f"### {v} ({ds.get('swapper', '?')}), GPT-style {m['layers']} layers x hidden {m['hidden']}, "
          f"vocab {m['vocab']}: {m['params']/1e6:.0f}M parameters, 1 rank, {len(plan['sub_groups'])} sub-groups\n")
    if stock.get("completed"):
        print("DeepSpeed unchanged: completed without a GPU\n")
    else:
        print(f"DeepSpeed unchanged stops at {stock.get('stopped_at')} ({stock.get('error')})\n")
    if not ds.get("completed"):
        print(f"DeepSpeed with pinning emulated stops at {ds.get('stopped_at')} ({ds.get('error')})\n")
        continue
    later = [s for s in ds["steps"] if not s["first"]]
    ds_read = {s["read_bytes"] for s in later}
    ds_write = {s["write_bytes"] for s in later}
    ds_s = statistics.median(s["step_s"] for s in later)
    files_plan = sorted([f["name"], f["bytes"]] for f in plan["files"])
    files_equal = files_plan == ds["files"]
    print("| | DeepSpeed 0.18.9 | aiobench zero (libaio) | aiobench zero (io_uring) |")
    print("|---|---|---|---|")
    rows = {"read bytes per step": [], "written bytes per step": [], "bytes equal": [],
            "s per step (median)": [], "ratio aiobench / DeepSpeed": [], "GiB/s": [],
            "backward s (gradients out)": [], "optimizer s (states in/out)": []}
    ab = {e: json.load(open(f"{work}/{v}.aiobench.{e}.json")) for e in ["libaio", "io_uring"]}
    total = plan["per_rank"]["read_bytes"] + plan["per_rank"]["write_bytes"]
    rows["read bytes per step"].append(" / ".join(str(x) for x in sorted(ds_read)))
    rows["written bytes per step"].append(" / ".join(str(x) for x in sorted(ds_write)))
    rows["bytes equal"].append(f"files: {len(ds['files'])} (names and sizes {'equal' if files_equal else 'DIFFER'})")
    rows["s per step (median)"].append(f"{ds_s:.3f}")
    rows["ratio aiobench / DeepSpeed"].append("1")
    rows["GiB/s"].append(f"{total / ds_s / gib:.2f}")
    rows["backward s (gradients out)"].append(f"{statistics.median(s['backward_s'] for s in later):.3f}")
    rows["optimizer s (states in/out)"].append(f"{statistics.median(s['optimizer_s'] for s in later):.3f}")
    for e, doc in ab.items():
        same = doc["read_bytes_per_step"] in ds_read and doc["write_bytes_per_step"] in ds_write \
            and len(ds_read) == 1 and len(ds_write) == 1
        rows["read bytes per step"].append(str(doc["read_bytes_per_step"]))
        rows["written bytes per step"].append(str(doc["write_bytes_per_step"]))
        rows["bytes equal"].append("equal" if same else "DIFFER")
        rows["s per step (median)"].append(f"{doc['step_s_per_step']:.3f}")
        rows["ratio aiobench / DeepSpeed"].append(f"{doc['step_s_per_step'] / ds_s:.2f}")
        rows["GiB/s"].append(f"{total / doc['step_s_per_step'] / gib:.2f}")
        measured = [s for s in doc["steps"] if not s["warmup"]]
        for row, phase in [("backward s (gradients out)", "backward"), ("optimizer s (states in/out)", "optimizer")]:
            rows[row].append(f"{statistics.median(s['phases'][phase]['s'] for s in measured):.3f}")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nDeepSpeed {ds['swapper']}, pinning emulated, memlock {ds.get('memlock')}{' (mlock a no-op)' if ds.get('mlock_shim') else ''}: its seconds include "
          "its memory copies (each gradient into its swap buffers; a bounce copy of every request on a "
          "handle that doesn't manage the buffer)")
    fds = [s["open_fds"] for s in ds["steps"]]
    print(f"DeepSpeed's process had {fds[0]} open file descriptors after its first step and "
          f"{fds[-1]} after its last ({ds['steps'][-1]['requests']} requests per step)")
    first = ds["steps"][0]
    print(f"\nDeepSpeed's first step (no Adam state yet): {first['read_bytes']} B read, "
          f"{first['write_bytes']} B written, {first['step_s']:.3f} s (aiobench replays later steps only)\n")
PY
