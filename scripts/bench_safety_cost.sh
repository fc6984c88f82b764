#!/usr/bin/env bash
# What Zig's safety checks cost: the same aiobench with the native library built ReleaseSafe (every
# assert and bounds check runs) and ReleaseFast (what users get), alternating round by round (Fast
# first in odd rounds, Safe first in even ones), cell by cell; prints one markdown row per cell with
# medians (min-max) of GiB/s (1M cells) or IOPS (4K cell) and CPU µs per IO, and the Safe/Fast
# ratio as the median (min-max) of each round's own ratio (the two runs of a round are adjacent in
# time, so slow drifts of a shared machine cancel). On a shared 2-core machine a run's speed moves
# by ±10% from round to round, far more than the checks cost; so when `perf` is there every run is
# also sampled (perf record -e cpu-clock), and the table adds the CPU time per IO spent in
# libaiobench.so's IO path (the only code the two builds differ in; buffer filling and checking are
# left out) and the Safe - Fast difference as a share of the process's whole CPU per IO: the
# checks' cost, resolved to a few tenths of a percent.
#
#   scripts/bench_safety_cost.sh [--loop | --dir DIR] [--rounds 7] [--runtime 3s] [--size 1G]
#       [--json_dir DIR]
#
# --json_dir keeps every run's aiobench/1 JSON (<cell>.<build>.<round>.json) and sample count there.
# --loop (default) makes an ext4 loop device over /dev/shm (scripts/loopdev.sh; needs root) and
# removes it at the end. Each round holds /work/cpu.lock when that file exists (see
# COORDINATION.md); don't wrap this script in it. AIOBENCH_LIB points each run at its build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
me="bench_safety_cost.sh"
die() { echo "$me: $*" >&2; exit 2; }

dir="" loop=1 rounds=7 runtime="3s" size="1G" json_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --loop) loop=1; shift ;;
    --dir) dir="${2:?--dir needs a folder}"; loop=0; shift 2 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
    --runtime) runtime="${2:?--runtime needs a duration such as 3s}"; shift 2 ;;
    --size) size="${2:?--size needs a size such as 1G}"; shift 2 ;;
    --json_dir) json_dir="${2:?--json_dir needs a folder}"; shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds $rounds: give a positive whole number"

lock=()
[ -e /work/cpu.lock ] && lock=(flock /work/cpu.lock)
work="$(mktemp -d "${TMPDIR:-/tmp}/aiobench-safety.XXXXXX")"
loop_name="safety-$$"
cleanup() {
  if [ -n "$json_dir" ]; then mkdir -p "$json_dir" && cp "$work"/*.json "$work"/*.lib_samples "$json_dir"/ 2>/dev/null || true; fi
  rm -rf "$work"
  if [ "$loop" = 1 ]; then scripts/loopdev.sh down --name "$loop_name" >&2 || true; fi
}
trap cleanup EXIT

for mode in ReleaseFast ReleaseSafe; do
  echo "$me: building the library $mode" >&2
  "${lock[@]}" env AIOBENCH_OPTIMIZE="$mode" \
    scripts/zig build --build-file zig/build.zig --prefix "$work/$mode" >&2
done
if [ "$loop" = 1 ]; then dir="$(scripts/loopdev.sh up --size 3G --name "$loop_name" | tail -1)"; fi
[ -d "$dir" ] || die "--dir $dir is not a folder"
data="$dir/safety-read.bin"
AIOBENCH_LIB="$work/ReleaseFast/lib/libaiobench.so" scripts/deno run -A main.ts \
  --write_file "$dir/safety-prep" --io_size "$size" --keep --force >/dev/null
mv "$dir/safety-prep.0" "$data"

common=(--overlap_events --runtime "$runtime" --time_based --engine io_uring)
declare -A cells=(
  [read_1M_qd8]="--read_file $data --block_size 1M --queue_depth 8"
  [read_1M_qd32]="--read_file $data --block_size 1M --queue_depth 32"
  [write_1M_qd32]="--write_file $dir/safety-write --io_size $size --block_size 1M --queue_depth 32 --keep --force"
  [randread_4K_qd32]="--read_file $data --rw randread --block_size 4K --queue_depth 32"
)
order=(read_1M_qd8 read_1M_qd32 write_1M_qd32 randread_4K_qd32)

one_round() {
  local round="$1" first second cell mode base
  local sample=()
  command -v perf >/dev/null && sample=(perf record -e cpu-clock -F 5000 -q -o "$work/perf.data" --)
  if [ $((round % 2)) = 1 ]; then first=ReleaseFast second=ReleaseSafe; else first=ReleaseSafe second=ReleaseFast; fi
  for cell in "${order[@]}"; do
    for mode in "$first" "$second"; do
      # shellcheck disable=SC2086 # the cell's flags are words
      base="$work/$cell.$mode.$round"
      AIOBENCH_LIB="$work/$mode/lib/libaiobench.so" "${sample[@]}" scripts/deno run -A main.ts \
        ${cells[$cell]} "${common[@]}" --json "$base.json" >/dev/null
      if [ ${#sample[@]} -gt 0 ]; then
        # The IO path only: filling and checking buffers (before and after the timed region)
        # is library code too, but not per IO.
        perf report -i "$work/perf.data" --dsos libaiobench.so --sort sym --stdio -q -F sample,sym \
          2>/dev/null | awk '!/aiob_(pattern|buffer|compare)/ { n += $1 } END { print n + 0 }' \
          >"$base.lib_samples"
        rm -f "$work/perf.data"
      fi
    done
  done
}

for round in $(seq 1 "$rounds"); do
  echo "$me: round $round/$rounds" >&2
  "${lock[@]}" bash -c "$(declare -p work cells order common); $(declare -f one_round); one_round $round"
done

scripts/deno eval --quiet '
const [work, rounds, ...cells] = Deno.args;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const span = (xs, f) => `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
const r3 = (x) => x.toFixed(3);
const sampled = (() => { try { Deno.statSync(`${work}/${cells[0]}.ReleaseFast.1.lib_samples`); return true; } catch { return false; } })();
console.log("| cell | ReleaseFast | ReleaseSafe | Safe/Fast | CPU µs/IO Fast | CPU µs/IO Safe | Safe/Fast |" + (sampled ? " in libaiobench µs/IO Fast | Safe | cost of the checks |" : ""));
console.log("|---|---|---|---|---|---|---|" + (sampled ? "---|---|---|" : ""));
for (const cell of cells) {
  const speed = { ReleaseFast: [], ReleaseSafe: [] }, cpu = { ReleaseFast: [], ReleaseSafe: [] }, lib = { ReleaseFast: [], ReleaseSafe: [] };
  for (let i = 1; i <= Number(rounds); i++) {
    for (const mode of ["ReleaseFast", "ReleaseSafe"]) {
      const doc = JSON.parse(Deno.readTextFileSync(`${work}/${cell}.${mode}.${i}.json`));
      if (doc.env.native_library.build !== mode) throw new Error(`${cell}: ran ${doc.env.native_library.build}, not ${mode}`);
      const r = doc.results[0];
      speed[mode].push(cell.includes("4K") ? r.iops : r.e2e_gib_s);
      cpu[mode].push(r.cpu.cpu_us_per_io);
      // perf samples at 5000 Hz: each is 200 µs of CPU in the library.
      if (sampled) lib[mode].push(Number(Deno.readTextFileSync(`${work}/${cell}.${mode}.${i}.lib_samples`) || 0) * 200 / r.latency_us.count);
    }
  }
  const paired = (m) => m.ReleaseSafe.map((x, i) => x / m.ReleaseFast[i]);
  const unit = cell.includes("4K") ? (x) => `${Math.round(x)} IOPS` : (x) => `${x.toFixed(2)} GiB/s`;
  const us = (x) => x.toFixed(2);
  let extra = "";
  if (sampled) {
    const cost = (median(lib.ReleaseSafe) - median(lib.ReleaseFast)) / median(cpu.ReleaseFast) * 100;
    extra = ` ${span(lib.ReleaseFast, r3)} | ${span(lib.ReleaseSafe, r3)} | ${cost.toFixed(2)}% |`;
  }
  console.log(`| ${cell} | ${span(speed.ReleaseFast, unit)} | ${span(speed.ReleaseSafe, unit)} | ${span(paired(speed), r3)} | ${span(cpu.ReleaseFast, us)} | ${span(cpu.ReleaseSafe, us)} | ${span(paired(cpu), r3)} |${extra}`);
}
' "$work" "$rounds" "${order[@]}"
