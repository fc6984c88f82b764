#!/usr/bin/env bash
# aiobench launched by SLURM's srun, for real, on this one machine:
#  - installs slurm-wlm and munge when missing (apt-get; Debian 12 has Slurm 22.05);
#  - starts a private one-node cluster in a temporary directory: its own munged (own key and
#    socket), slurmctld and slurmd (own slurm.conf, ports, state, spool, pid and log files),
#    and waits (bounded) for the node to be idle;
#  - runs `srun -n 2 --mpi=pmi2` with MPICH's library and `srun -n 2 --mpi=pmix` with Open MPI's
#    (each only where `srun --mpi=list` offers the plugin) on
#    `aiobench --folder DIR --io_size 16M --threads 1 --loops 1`, and checks that the output holds
#    exactly one report, `mpi: 2 ranks`, and two per-rank rows;
#  - stops the daemons and removes the temporary directory on exit (a trap), failed runs included.
# Usage: scripts/slurm_check.sh [--mpi pmi2|pmix|both]   (default both)
# Needs root (the daemons run as root here). Exit 0 when every attempted launch passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
me="slurm_check.sh"
die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

which_mpi="both"
while [ $# -gt 0 ]; do
  case "$1" in
    --mpi) which_mpi="$2"; shift 2 ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
case "$which_mpi" in pmi2|pmix|both) ;; *) die "--mpi takes pmi2, pmix or both" ;; esac
[ "$(id -u)" -eq 0 ] || die "needs root (installs packages, runs slurmctld/slurmd as root)"

if ! command -v srun >/dev/null || ! command -v slurmctld >/dev/null ||
  ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >&2 ||
    die "apt-get install slurm-wlm munge failed"
fi

tmp="$(mktemp -d /tmp/aiobench-slurm.XXXXXX)"
chmod 700 "$tmp"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

host="$(hostname -s)"
# Ports away from the defaults (6817/6818), so a real Slurm on this host is not disturbed.
ctld_port=$((17000 + $$ % 1000 * 2))
slurmd_port=$((ctld_port + 1))
mkdir -p "$tmp"/{munge,state,spool,log,run,data}

# munge: its own key, socket, pid, seed and log; -f because it runs as root here.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$tmp/munge/munge.key"
sock="$tmp/munge/munge.socket"
munged -F -f --key-file="$tmp/munge/munge.key" --socket="$sock" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" \
  --log-file="$tmp/log/munged.log" >"$tmp/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/log/munged.out" "$tmp/log/munged.log" >&2 || true; die "munged did not start"; }

export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=aiobench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=aiobench Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF

slurmctld -D -i >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)

state=""
for _ in $(seq 60); do
  state="$(sinfo -h -n "$host" -o %t 2>/dev/null || true)"
  [ "$state" = "idle" ] && break
  sleep 0.5
done
if [ "$state" != "idle" ]; then
  tail -n 20 "$tmp"/log/*.log "$tmp"/log/*.out >&2 || true
  die "the node did not become idle within 30 s (state '${state:-none}')"
fi
say "private cluster up: node $host idle (slurmctld port $ctld_port)"

plugins="$(srun --mpi=list 2>&1 || true)"
say "srun --mpi=list: $(echo "$plugins" | tr -s ' \n' ' ')"

deno="$root/.tools/deno-$(source scripts/toolchain.sh && echo "$DENO_VERSION")/deno"
[ -x "$deno" ] || scripts/deno --version >/dev/null
[ -f zig/zig-out/lib/libaiobench.so ] || scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2

failed=0 ran=0
# check NAME OUTPUT_FILE: one report, 2 ranks, two per-rank rows (rank 0 and rank 1).
check() {
  local name="$1" out="$2" ok=1
  [ "$(grep -c '^Task Write Latency' "$out")" -eq 1 ] || { say "$name: not exactly one report"; ok=0; }
  [ "$(grep -c '^mpi: 2 ranks' "$out")" -eq 1 ] || { say "$name: no single 'mpi: 2 ranks' line"; ok=0; }
  [ "$(grep -cE "^[01] +$host +write " "$out")" -eq 2 ] || { say "$name: not two per-rank rows"; ok=0; }
  return $((1 - ok))
}

# launch NAME PLUGIN VAR=VALUE...: srun -n 2 --mpi=PLUGIN env VAR=VALUE... aiobench ...
launch() {
  local name="$1" plugin="$2"
  shift 2
  if ! grep -qw "$plugin" <<<"$plugins"; then
    say "$name: srun has no '$plugin' plugin here, skipped"
    return 0
  fi
  ran=$((ran + 1))
  local dir="$tmp/data/$name" out="$tmp/$name.out"
  mkdir -p "$dir"
  local cmd=(srun -n 2 --mpi="$plugin" --time=5 env TMPDIR="$tmp" "$@"
    scripts/deno run -A main.ts --folder "$dir" --io_size 16M --threads 1 --loops 1)
  echo "\$ ${cmd[*]}"
  local rc=0
  timeout 180 "${cmd[@]}" >"$out" 2>&1 || rc=$?
  cat "$out"
  if [ "$rc" -ne 0 ]; then
    say "$name: srun exited $rc"
    failed=$((failed + 1))
  elif ! check "$name" "$out"; then
    failed=$((failed + 1))
  elif [ -n "$(ls -A "$dir")" ]; then
    say "$name: files left in the folder: $(ls -A "$dir")"
    failed=$((failed + 1))
  else
    say "$name: passed (one report, 2 ranks, two rank rows, no files left)"
  fi
}

if [ "$which_mpi" != "pmix" ]; then
  prefix="$(scripts/install_mpi.sh mpich | awk '{print $3}')"
  # What a rank of `srun --mpi=pmi2` sees (aiobench's launch detection reads these).
  echo "\$ srun -n 2 --mpi=pmi2 env | grep -E '^(PMI_|SLURM_(PROCID|NTASKS|STEP_ID)=)' | sort -u"
  timeout 60 srun -n 2 --mpi=pmi2 --time=1 env |
    grep -E '^(PMI_|SLURM_(PROCID|NTASKS|STEP_ID)=)' | sort -u || true
  # MPICH's libmpi talks to Slurm's pmi2 plugin over PMI_FD with its default (PMI-1) wire
  # protocol. The library is found through AIOBENCH_MPI_LIB (the standard ABI), and through
  # LD_LIBRARY_PATH alone (as a site's `module load mpich` sets it).
  launch mpich-pmi2-abi pmi2 AIOBENCH_MPI_LIB="$prefix/lib/libmpi_abi.so.1"
  launch mpich-pmi2-ldpath pmi2 LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ "$which_mpi" != "pmi2" ]; then
  prefix="$(scripts/install_mpi.sh openmpi | awk '{print $3}')"
  # Open MPI 5 has no PMI-2 client; it speaks PMIx to Slurm's pmix plugin (system libpmix 4.2).
  launch openmpi-pmix pmix AIOBENCH_MPI_LIB="$prefix/lib/libmpi.so.40"
fi

[ "$ran" -gt 0 ] || die "no launch was possible (srun --mpi=list: $plugins)"
[ "$failed" -eq 0 ] || die "$failed of $ran srun launches failed"
say "all $ran srun launches passed"
