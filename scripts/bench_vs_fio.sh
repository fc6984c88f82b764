#!/usr/bin/env bash
# Reproduces the aiobench-vs-fio table of docs/performance.md with `aiobench compare`.
#   scripts/bench_vs_fio.sh [--dir DIR] [--loop] [--rounds N] [--runtime 2s] [--size 1G] [--out FILE.md] [--extra "FLAGS"]
# --set default|qd|tasklets: the default cases (1M read/write at QD 8/32, 4K randread QD 32); 1M
#   reads at QD 1, 8, 32; or 1M reads at QD 8 with --threads 1,2,4 x --io_parallel 1,2 (fio:
#   numjobs with the same total queue depth).
# --against REV: the same cases with aiobench as of git revision REV too (a worktree of it, its
#   library built as its zig/build.zig builds it): per case and round, one compare round for each
#   build, alternating which goes first; prints the medians of the per-round aiobench/fio GiB/s
#   ratios of both builds (each against a fio run of its own, minutes apart at most), to tell
#   whether a change moved aiobench relative to fio.
# --extra: aiobench flags added to every case, e.g. "--single_submit" (one IO per submission call,
#   which is the policy of fio's defaults; without it aiobench refills the queue in batches as
#   DeepSpeed's overlap_events does).
# --loop: a scratch ext4 on a loop device over /dev/shm (software overhead dominates; needs root).
# --dir DIR: a directory on the disk to test (files aiobench-bench.* are created and removed).
# Prints one markdown row per case (medians of N alternating rounds, aiobench/fio ratios).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir="" loop=0 rounds=5 runtime="2s" size="1G" out="" extra="" set="default" against=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --loop) loop=1; shift ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
    --runtime) runtime="${2:?--runtime needs a duration such as 2s}"; shift 2 ;;
    --size) size="${2:?--size needs a size such as 1G}"; shift 2 ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --extra) extra="${2?--extra needs flags}"; shift 2 ;;
    --set) set="${2:?--set needs default, qd or tasklets}"; shift 2 ;;
    --against) against="${2:?--against needs a git revision}"; shift 2 ;;
    *) echo "bench_vs_fio.sh: unknown argument '$1'; see the usage at the top of $0" >&2; exit 2 ;;
  esac
done
command -v fio >/dev/null || { echo "fio not found; install it with: apt-get install fio (or scripts/install_fio.sh)" >&2; exit 1; }
[ -n "$dir" ] || [ "$loop" -eq 1 ] || { echo "bench_vs_fio.sh: give --dir DIR or --loop" >&2; exit 2; }

if [ -n "$against" ]; then
  git rev-parse --verify -q "$against^{commit}" >/dev/null \
    || { echo "bench_vs_fio.sh: --against $against is not a commit of this repository" >&2; exit 2; }
fi
work="$(mktemp -d)"
cleanup() {
  [ -n "$against" ] && git worktree remove --force "$work/base" >/dev/null 2>&1
  rm -rf "$work"
  [ -n "$dir" ] && rm -f "$dir"/aiobench-bench.read "$dir"/aiobench-bench.w.*
  if [ "$loop" -eq 1 ]; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do scripts/loopdev.sh down --name benchfio >/dev/null 2>&1 && break; sleep 1; done
  fi
}
trap cleanup EXIT
if [ "$loop" -eq 1 ]; then
  dir="$(scripts/loopdev.sh up --size 3G --name benchfio | tail -1)"
fi
read_file="$dir/aiobench-bench.read"
[ -f "$read_file" ] || fio --name=layout --filename="$read_file" --rw=write --bs=1M --size="$size" \
  --direct=1 --ioengine=psync --output=/dev/null

# aiobench as users run it: the library as zig/build.zig builds it by default (a library left
# from an older checkout is refused as stale).
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2
aiobench() { scripts/deno run -A main.ts "$@"; }
per_run=(--runtime "$runtime" --time_based --engine io_uring)
common=(--rounds "$rounds" "${per_run[@]}")
default_cases=(
  "read 1M qd8|--read_file $read_file --io_size $size --block_size 1M --queue_depth 8 --overlap_events"
  "read 1M qd32|--read_file $read_file --io_size $size --block_size 1M --queue_depth 32 --overlap_events"
  "write 1M qd8|--write_file $dir/aiobench-bench.w --io_size $size --block_size 1M --queue_depth 8 --overlap_events --force"
  "write 1M qd32|--write_file $dir/aiobench-bench.w --io_size $size --block_size 1M --queue_depth 32 --overlap_events --force"
  "randread 4K qd32|--read_file $read_file --io_size $size --block_size 4K --queue_depth 32 --overlap_events --rw randread"
)
case "$set" in
  default) cases=("${default_cases[@]}") ;;
  qd)
    cases=()
    for qd in 1 8 32; do
      cases+=("read 1M qd$qd|--read_file $read_file --io_size $size --block_size 1M --queue_depth $qd --overlap_events")
    done ;;
  tasklets)
    cases=()
    for t in 1 2 4; do for p in 1 2; do
      cases+=("read 1M qd8 threads $t io_parallel $p|--read_file $read_file --io_size $size --block_size 1M --queue_depth 8 --overlap_events --threads $t --io_parallel $p")
    done; done ;;
  *) echo "bench_vs_fio.sh: --set $set is unknown; use default, qd or tasklets" >&2; exit 2 ;;
esac
if [ -n "$against" ]; then
  git worktree add -q --detach "$work/base" "$against" >&2
  ln -s "$(realpath .tools)" "$work/base/.tools"
  (cd "$work/base" && scripts/zig build --build-file zig/build.zig --prefix zig/zig-out) >&2
  i=0
  for c in "${cases[@]}"; do
    name="${c%%|*}" args="${c#*|}"
    echo "== $name: aiobench compare $args --rounds 1, now and at $against, alternating" >&2
    for r in $(seq 1 "$rounds"); do
      builds=(now base)
      [ $((r % 2)) -eq 0 ] && builds=(base now)
      for b in "${builds[@]}"; do
        from="."
        [ "$b" = base ] && from="$work/base"
        # shellcheck disable=SC2086
        (cd "$from" && scripts/deno run -A main.ts compare $args $extra --rounds 1 "${per_run[@]}" \
          --json "$work/$i.$b.$r.json" >/dev/null) >&2
      done
    done
    echo "$name${extra:+ $extra}" >"$work/$i.name"
    i=$((i + 1))
  done
  table="$(scripts/deno eval '
import { median } from "./lib/compare/compare.ts";
const [dir, rounds, rev] = [Deno.args[0], Number(Deno.args[1]), Deno.args[2]];
const ratio = (path) => JSON.parse(Deno.readTextFileSync(path)).comparisons[0].rows.find((r) => r.metric === "gibS").ratio;
const lines = [`| case | aiobench/fio now: median (rounds) | aiobench/fio at ${rev}: median (rounds) |`, "|---|---|---|"];
for (let i = 0; ; i++) {
  let name;
  try { name = Deno.readTextFileSync(`${dir}/${i}.name`).trim(); } catch { break; }
  const side = (b) => { const xs = []; for (let r = 1; r <= rounds; r++) xs.push(ratio(`${dir}/${i}.${b}.${r}.json`)); return `${median(xs).toFixed(2)}x (${xs.map((x) => x.toFixed(2)).join(", ")})`; };
  lines.push(`| ${name} | ${side("now")} | ${side("base")} |`);
}
console.log(lines.join("\n"));
' "$work" "$rounds" "$against")"
  echo "$table"
  [ -n "$out" ] && echo "$table" >"$out"
  exit 0
fi

i=0
for c in "${cases[@]}"; do
  name="${c%%|*}" args="${c#*|}"
  echo "== $name: aiobench compare $args ${common[*]}" >&2
  # shellcheck disable=SC2086
  aiobench compare $args $extra "${common[@]}" --json "$work/$i.json" >&2
  echo "$name${extra:+ $extra}" >"$work/$i.name"
  i=$((i + 1))
done

table="$(scripts/deno eval '
const dir = Deno.args[0];
const lines = ["| case | GiB/s aiobench | GiB/s fio | ratio | IOPS ratio | p50 µs (a / fio) | p99 µs (a / fio) | CPU µs/IO (a / fio) |", "|---|---|---|---|---|---|---|---|"];
const f = (x, d) => (x === null ? "-" : x.toFixed(d));
for (let i = 0; ; i++) {
  let doc;
  try { doc = JSON.parse(Deno.readTextFileSync(`${dir}/${i}.json`)); } catch { break; }
  const name = Deno.readTextFileSync(`${dir}/${i}.name`).trim();
  const row = Object.fromEntries(doc.comparisons[0].rows.map((r) => [r.metric, r]));
  lines.push(`| ${name} | ${f(row.gibS.aiobench, 3)} | ${f(row.gibS.fio, 3)} | ${f(row.gibS.ratio, 2)}x | ${f(row.iops.ratio, 2)}x | ${f(row.p50Us.aiobench, 1)} / ${f(row.p50Us.fio, 1)} | ${f(row.p99Us.aiobench, 1)} / ${f(row.p99Us.fio, 1)} | ${f(row.cpuUsPerIo.aiobench, 2)} / ${f(row.cpuUsPerIo.fio, 2)} |`);
}
console.log(lines.join("\n"));
' "$work")"
echo "$table"
[ -n "$out" ] && echo "$table" >"$out"
exit 0
