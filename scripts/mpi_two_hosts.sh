#!/usr/bin/env bash
# Two "hosts" on one machine, and aiobench launched across them by a real MPI launcher:
#  - each host is a network namespace with its own host name (UTS namespace) and its own mount
#    namespace, where its own loop device (scripts/loopdev.sh, over /dev/shm) is mounted at
#    /mnt/aiobench-node;
#  - the two are joined by a veth pair whose addresses (10.77.0.1 and .2) exist only inside them,
#    so no traffic goes to any other address;
#  - the launcher reaches the other host through a stand-in for ssh (the launcher's own rsh/ssh
#    agent setting) that enters that host's namespaces instead of logging in.
# Usage: scripts/mpi_two_hosts.sh [--mpi openmpi|mpich] [--per-host N] [-- aiobench args...]
#   default aiobench args: --folder /mnt/aiobench-node --io_size 256M --threads 2 --loops 3
# Needs root (ip netns, mount, losetup).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
me="mpi_two_hosts.sh"
die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

mpi="openmpi" per_host=1
args=(--folder /mnt/aiobench-node --io_size 256M --threads 2 --loops 3)
while [ $# -gt 0 ]; do
  case "$1" in
    --mpi) mpi="$2"; shift 2 ;;
    --per-host) per_host="$2"; shift 2 ;;
    --) shift; args=("$@"); break ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (ip netns, mount, losetup)"
command -v ip >/dev/null || die "needs iproute2's ip"

prefix="$(scripts/install_mpi.sh "$mpi" | awk '{print $3}')"
[ -x "$prefix/bin/mpiexec" ] || die "$mpi could not be installed"
deno="$root/.tools/deno-$(source scripts/toolchain.sh && echo "$DENO_VERSION")/deno"
[ -x "$deno" ] || scripts/deno --version >/dev/null
scripts/zig build --build-file zig/build.zig --prefix zig/zig-out >&2

tag="$$"
hosts=(a b)
declare -A ns ip name loopname
for h in "${hosts[@]}"; do
  ns[$h]="aiob-$h-$tag"
  name[$h]="aiobench-host-$h"
  loopname[$h]="twohost_${h}_$tag"
done
ip[a]="10.77.0.1" ip[b]="10.77.0.2"
work="$(mktemp -d)"
mkdir -p /mnt/aiobench-node

cleanup() {
  for h in "${hosts[@]}"; do
    ip netns del "${ns[$h]}" 2>/dev/null || true
    scripts/loopdev.sh down --name "${loopname[$h]}" >&2 2>/dev/null || true
  done
  rm -rf "$work"
  rmdir /mnt/aiobench-node 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "${ns[a]}"
ip netns add "${ns[b]}"
ip link add "aiob$tag" type veth peer name "aiobp$tag"
ip link set "aiob$tag" netns "${ns[a]}"
ip link set "aiobp$tag" netns "${ns[b]}"
ip -n "${ns[a]}" link set "aiob$tag" name aiob0
ip -n "${ns[b]}" link set "aiobp$tag" name aiob0
for h in "${hosts[@]}"; do
  ip -n "${ns[$h]}" addr add "${ip[$h]}/24" dev aiob0
  ip -n "${ns[$h]}" link set aiob0 up
  ip -n "${ns[$h]}" link set lo up
done
for h in "${hosts[@]}"; do
  mnt="$(scripts/loopdev.sh up --size 2G --name "${loopname[$h]}" | tail -n 1)"
  echo "$mnt" >"$work/mnt-$h"
done
say "hosts: ${name[a]} ${ip[a]} (netns ${ns[a]}), ${name[b]} ${ip[b]} (netns ${ns[b]}); veth aiob0"

# enter HOST CMD...: runs CMD as if on HOST (its netns, its host name, its loop device mounted
# at /mnt/aiobench-node in a private mount namespace).
cat >"$work/enter" <<EOF
#!/bin/sh
h="\$1"; shift
case "\$h" in
  a|${ip[a]}) n=${ns[a]} hn=${name[a]} m=\$(cat $work/mnt-a) ;;
  b|${ip[b]}) n=${ns[b]} hn=${name[b]} m=\$(cat $work/mnt-b) ;;
  *) echo "enter: unknown host \$h" >&2; exit 255 ;;
esac
exec ip netns exec "\$n" unshare -u -m --propagation private sh -c \
  'hostname "\$0" && mount --bind "\$1" /mnt/aiobench-node && shift && exec "\$@"' "\$hn" "\$m" "\$@"
EOF
# The ssh stand-in: "agent [ssh options] HOST COMMAND...", COMMAND run by a shell as ssh would.
cat >"$work/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
h="\$1"; shift
exec $work/enter "\$h" sh -c "\$*"
EOF
chmod +x "$work/enter" "$work/agent"

aiobench=("$deno" run -A "$root/main.ts" "${args[@]}")
if [ "$mpi" = openmpi ]; then
  launch=("$prefix/bin/mpiexec" --host "${ip[a]}:$per_host,${ip[b]}:$per_host" -n $((2 * per_host))
    --prtemca plm_ssh_agent "$work/agent" --prtemca prte_if_include 10.77.0.0/24
    --mca btl_tcp_if_include 10.77.0.0/24 --mca pml ob1 --mca btl tcp,self,sm)
  [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
else
  launch=("$prefix/bin/mpiexec" -hosts "${ip[a]}:$per_host,${ip[b]}:$per_host" -n $((2 * per_host))
    -launcher ssh -launcher-exec "$work/agent" -iface aiob0 -genv FI_PROVIDER tcp
    -genv FI_TCP_IFACE aiob0 -genv MPIR_CVAR_CH4_NETMOD ofi)
fi
say "launching from ${name[a]}: ${launch[*]} ${aiobench[*]}"
"$work/enter" a "${launch[@]}" "${aiobench[@]}"
