#!/usr/bin/env bash
# Measures what running across MPI ranks costs, on a loop device over /dev/shm:
#  1. the same total work as `mpiexec -n 2 aiobench --threads 2` and `aiobench --threads 4`
#     (write, then read; rounds alternate which goes first): aggregate GiB/s, medians;
#  2. one global step (the cross-rank barrier: MPI_Iallreduce + MPI_Test polling), in µs, for each
#     installed MPI and ABI;
#  3. a loop of one 4 KiB IO: E2E minus Task per loop is the barrier a loop pays, with and without
#     ranks.
# Usage: scripts/bench_mpi.sh [--mpi openmpi|mpich] [--rounds 3] [--size 512M] [--loops 3]
# Run it under the CPU lock: flock /work/cpu.lock scripts/bench_mpi.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
me="bench_mpi.sh"
die() { echo "$me: $*" >&2; exit 1; }

mpi="openmpi" rounds=3 size="512M" loops=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mpi) mpi="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --loops) loops="$2"; shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done

prefixes="$(scripts/install_mpi.sh)" || die "the MPIs could not be installed"
prefix="$(echo "$prefixes" | awk -v m="$mpi" '$1 == m {print $3}')"
[ -n "$prefix" ] || die "no $mpi install"
launcher=("$prefix/bin/mpiexec")
[ "$mpi" = openmpi ] && launcher+=(--oversubscribe) && [ "$(id -u)" -eq 0 ] && launcher+=(--allow-run-as-root)

scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2
deno="$(pwd)/.tools/deno-$(source scripts/toolchain.sh && echo "$DENO_VERSION")/deno"
[ -x "$deno" ] || scripts/deno --version >/dev/null
aiobench=("$deno" run -A "$(pwd)/main.ts")

name="mpi_bench_$$"
dir="$(scripts/loopdev.sh up --size 8G --name "$name" | tail -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"; scripts/loopdev.sh down --name "$name" >&2 || true' EXIT

# gib FILE OP FIELD: a field of an op's result in an aiobench/1 document.
gib() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print([r for r in d['results'] if r['op']==sys.argv[2]][0][sys.argv[3]])" "$@"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }

common=(--folder "$dir" --io_size "$size" --loops "$loops" --warmup_loops 1)
declare -A results
for round in $(seq 1 "$rounds"); do
  order=(ranks plain)
  [ $((round % 2)) -eq 0 ] && order=(plain ranks)
  for who in "${order[@]}"; do
    for op in write read; do
      extra=()
      [ "$op" = read ] && extra=(--read)
      out="$work/$who-$op-$round.json"
      if [ "$who" = ranks ]; then
        "${launcher[@]}" -n 2 "${aiobench[@]}" "${common[@]}" "${extra[@]}" --threads 2 --json "$out" >/dev/null
      else
        "${aiobench[@]}" "${common[@]}" "${extra[@]}" --threads 4 --json "$out" >/dev/null
      fi
      results[$who-$op-task]+=" $(gib "$out" "$op" task_gib_s)"
      results[$who-$op-e2e]+=" $(gib "$out" "$op" e2e_gib_s)"
      results[$who-$op-bytes]="$(gib "$out" "$op" bytes)"
    done
  done
done

echo "## $mpi: mpiexec -n 2 --threads 2 vs --threads 4, $size per worker, $loops loops, $rounds rounds (medians)"
echo
echo "| op | bytes | ranks 2×2 task GiB/s | plain 4 task GiB/s | ranks/plain | ranks 2×2 E2E GiB/s | plain 4 E2E GiB/s | ranks/plain |"
echo "|---|---|---|---|---|---|---|---|"
for op in write read; do
  rt=$(median ${results[ranks-$op-task]}) pt=$(median ${results[plain-$op-task]})
  re=$(median ${results[ranks-$op-e2e]}) pe=$(median ${results[plain-$op-e2e]})
  echo "| $op | ${results[ranks-$op-bytes]} / ${results[plain-$op-bytes]} | $rt | $pt | $(python3 -c "print(f'{$rt/$pt:.3f}')") | $re | $pe | $(python3 -c "print(f'{$re/$pe:.3f}')") |"
done
echo
echo "all rounds (task GiB/s): ranks write${results[ranks-write-task]}; plain write${results[plain-write-task]}; ranks read${results[ranks-read-task]}; plain read${results[plain-read-task]}"

echo
echo "## One global step (cross-rank barrier), 2 ranks, 5000 steps after 100 warm-up"
for variant in "openmpi" "mpich" "mpich:libmpi.so.12"; do
  m="${variant%%:*}" lib="${variant#*:}"
  p="$(echo "$prefixes" | awk -v m="$m" '$1 == m {print $3}')"
  [ -n "$p" ] || continue
  l=("$p/bin/mpiexec")
  [ "$m" = openmpi ] && l+=(--oversubscribe) && [ "$(id -u)" -eq 0 ] && l+=(--allow-run-as-root)
  envs=()
  [ "$lib" != "$variant" ] && envs=(env "AIOBENCH_MPI_LIB=$p/lib/$lib")
  line="$("${envs[@]}" "${l[@]}" -n 2 "$deno" run -A tests/_mpi_rank.ts cost 5000 | tail -n 1)"
  echo "- $variant: $line"
done

echo
echo "## Barrier per loop: --io_size 4K, 2000 loops, E2E minus Task per loop"
"${launcher[@]}" -n 2 "${aiobench[@]}" --folder "$dir" --io_size 4K --loops 2000 --warmup_loops 0 --threads 2 --json "$work/b-ranks.json" >/dev/null
"${aiobench[@]}" --folder "$dir" --io_size 4K --loops 2000 --warmup_loops 0 --threads 4 --json "$work/b-plain.json" >/dev/null
for who in ranks plain; do
  f="$work/b-$who.json"
  echo "- $who: $(python3 -c "
import json,sys
d=json.load(open(sys.argv[1])); r=d['results'][0]
per=[(w['e2e_latency_s']-w['task_latency_s'])/2000*1e6 for w in r['workers']]
print(f'E2E-Task per loop: median worker {sorted(per)[len(per)//2]:.1f} us, min {min(per):.1f} us, max {max(per):.1f} us')
" "$f")"
done
