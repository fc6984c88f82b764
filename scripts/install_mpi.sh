#!/usr/bin/env bash
# Installs the MPIs the MPI tests launch with: Open MPI and MPICH from their PyPI wheels (each a
# relocatable prefix with mpiexec and libmpi), pinned in toolchain.sh, into .tools/mpi/.
# Prints one line per MPI that is ready: "<name> <version> <prefix>". An MPI that can't be
# installed gets one line on stderr saying why; the exit status is then 1.
# Usage: scripts/install_mpi.sh [openmpi|mpich]...   (default: both)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
root="$TOOLS_DIR/mpi"
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(openmpi mpich)

install_one() {
  local name="$1" version="$2" prefix="$root/$1-$2"
  if [ -x "$prefix/bin/mpiexec" ]; then echo "$name $version $prefix"; return 0; fi
  local python
  python="$(command -v python3 || true)"
  if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "install_mpi.sh: can't install $name: python3 with pip is needed (apt-get install python3-pip)" >&2
    return 1
  fi
  mkdir -p "$root"
  local tmp log
  tmp="$(mktemp -d "$root/.$name.XXXXXX")"
  log="$tmp.log"
  echo "install_mpi.sh: installing $name $version from PyPI into $prefix (one time)" >&2
  # --prefix puts the wheel's data (bin/, lib/, include/) straight under the prefix.
  if ! "$python" -m pip install --quiet --no-deps --no-cache-dir --disable-pip-version-check \
    --prefix "$tmp" "$name==$version" >"$log" 2>&1; then
    echo "install_mpi.sh: can't install $name: pip failed: $(grep -v '^ *$' "$log" | tail -1)" >&2
    rm -rf "$tmp" "$log"
    return 1
  fi
  rm -f "$log"
  if [ ! -x "$tmp/bin/mpiexec" ]; then
    echo "install_mpi.sh: can't install $name: the wheel has no bin/mpiexec for $(uname -m)" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$prefix" && mv "$tmp" "$prefix" || return 1
  echo "$name $version $prefix"
}

mkdir -p "$root" 2>/dev/null
status=0
# One installer at a time (parallel test runs share .tools/).
exec 9>"$root/.lock"
flock -w 600 9 || { echo "install_mpi.sh: another install holds $root/.lock" >&2; exit 1; }
for name in "${wanted[@]}"; do
  case "$name" in
    openmpi) install_one openmpi "$OPENMPI_VERSION" || status=1 ;;
    mpich) install_one mpich "$MPICH_VERSION" || status=1 ;;
    *) echo "install_mpi.sh: unknown MPI '$name' (openmpi or mpich)" >&2; status=2 ;;
  esac
done
exit $status
