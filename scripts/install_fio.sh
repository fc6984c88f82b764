#!/usr/bin/env bash
# Installs fio from the distribution's packages when it is missing; prints its path.
set -euo pipefail
if ! command -v fio >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { echo "install_fio.sh: fio is missing and apt-get is not available; install fio with your package manager" >&2; exit 1; }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install_fio.sh: installing fio with apt-get" >&2
  $sudo apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends fio >&2
fi
command -v fio
