#!/usr/bin/env bash
# A scratch filesystem on a loop device over /dev/shm, for tests and benchmarks without spare disks.
#   scripts/loopdev.sh up   [--size 4G] [--fs ext4|xfs] [--name NAME]   prints the mount point (last line)
#   scripts/loopdev.sh down [--name NAME]
# Touches only what it created: a marker file records the loop device, backing file and mount point.
set -euo pipefail

me="loopdev.sh"
die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

action="${1:-}"
[ $# -gt 0 ] && shift
size="4G"
fs="ext4"
name="loop"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="${2:?--size needs a value such as 4G}"; shift 2 ;;
    --size=*) size="${1#*=}"; shift ;;
    --fs) fs="${2:?--fs needs ext4 or xfs}"; shift 2 ;;
    --fs=*) fs="${1#*=}"; shift ;;
    --name) name="${2:?--name needs a value}"; shift 2 ;;
    --name=*) name="${1#*=}"; shift ;;
    *) die "unknown argument '$1'; usage: $me up [--size 4G] [--fs ext4|xfs] [--name NAME] | down [--name NAME]" ;;
  esac
done
[[ "$name" =~ ^[A-Za-z0-9_-]{1,32}$ ]] || die "--name '$name' must be 1-32 letters, digits, '_' or '-'"
[[ "$size" =~ ^[0-9]+[KMG]?$ ]] || die "--size '$size' must be a number with an optional K, M or G suffix (e.g. 4G)"
case "$fs" in ext4|xfs) ;; *) die "--fs '$fs' is not supported; use ext4 or xfs" ;; esac

backing="/dev/shm/aiobench-$name.img"
marker="/dev/shm/aiobench-$name.marker"
mnt="/mnt/aiobench-$name"

need_root() { [ "$(id -u)" -eq 0 ] || die "$1 needs root (losetup, mkfs, mount); run it with sudo"; }

# Reads the marker into loop_dev/marker_backing/marker_mnt; fails if it is not ours.
read_marker() {
  loop_dev="" marker_backing="" marker_mnt=""
  while IFS='=' read -r key value; do
    case "$key" in
      loop) loop_dev="$value" ;;
      backing) marker_backing="$value" ;;
      mount) marker_mnt="$value" ;;
    esac
  done <"$marker"
  [ "$marker_backing" = "$backing" ] && [ "$marker_mnt" = "$mnt" ] \
    || die "$marker does not describe $backing and $mnt; remove it by hand after checking"
}

# True when loop device $1 is attached to our backing file.
loop_is_ours() {
  local dev="$1" sysfile
  [ -n "$dev" ] && [ -b "$dev" ] || return 1
  sysfile="/sys/block/$(basename "$dev")/loop/backing_file"
  [ -r "$sysfile" ] && [ "$(cat "$sysfile")" = "$backing" ]
}

mounted_source() { findmnt -n -o SOURCE --mountpoint "$mnt" 2>/dev/null | head -n 1 || true; }

up() {
  need_root "up"
  if [ -e "$marker" ]; then
    read_marker
    if loop_is_ours "$loop_dev" && [ "$(mounted_source)" = "$loop_dev" ]; then
      say "$mnt is already up ($loop_dev over $backing)"
      echo "$mnt"
      return 0
    fi
    die "$marker exists but $mnt is not mounted from it; run '$me down --name $name' first"
  fi
  [ -e "$backing" ] && die "$backing exists but was not made by $me (no marker); refusing to touch it"
  [ -n "$(mounted_source)" ] && die "$mnt is already a mount point of something else; refusing to touch it"
  if [ -d "$mnt" ] && [ -n "$(ls -A "$mnt")" ]; then die "$mnt exists and is not empty; refusing to mount over it"; fi
  local pkg="e2fsprogs"
  [ "$fs" = "xfs" ] && pkg="xfsprogs"
  command -v "mkfs.$fs" >/dev/null || die "mkfs.$fs not found; install it (apt-get install $pkg)"

  printf 'backing=%s\nmount=%s\nfs=%s\n' "$backing" "$mnt" "$fs" >"$marker"
  truncate -s "$size" "$backing"
  loop_dev="$(losetup --find --show "$backing")" || { rm -f "$backing" "$marker"; die "losetup failed for $backing"; }
  echo "loop=$loop_dev" >>"$marker"
  case "$fs" in
    # Initialise inode tables now, so no background ext4lazyinit writes disturb a benchmark.
    ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loop_dev" >&2 ;;
    xfs) mkfs.xfs -q -f "$loop_dev" >&2 ;;
  esac
  mkdir -p "$mnt"
  mount "$loop_dev" "$mnt"
  chmod 1777 "$mnt"
  say "mounted $fs on $loop_dev (backing $backing, $size) at $mnt"
  echo "$mnt"
}

# Unmounts with a bounded retry: the kernel tears io_uring rings down after the process exits.
unmount_retry() {
  local tries=0
  until umount "$mnt" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -ge 25 ] && { umount "$mnt"; return 1; }
    sleep 0.2
  done
}

down() {
  need_root "down"
  if [ ! -e "$marker" ]; then
    [ -e "$backing" ] && say "$backing exists but has no marker; leaving it alone"
    say "nothing to do for '$name' (no marker $marker)"
    return 0
  fi
  read_marker
  local src
  src="$(mounted_source)"
  if [ -n "$src" ]; then
    [ -n "$loop_dev" ] && [ "$src" = "$loop_dev" ] \
      || die "$mnt is mounted from $src, not from our $loop_dev; refusing to unmount it"
    unmount_retry || die "could not unmount $mnt after ~5 s (busy: try 'fuser -vm $mnt')"
  fi
  if loop_is_ours "$loop_dev"; then
    losetup -d "$loop_dev"
  fi
  # Other loop devices still on our backing file (an interrupted 'up') are ours too.
  local other
  for other in $(losetup -n -O NAME -j "$backing" 2>/dev/null); do losetup -d "$other"; done
  rm -f "$backing"
  [ -d "$mnt" ] && rmdir "$mnt" 2>/dev/null || true
  rm -f "$marker"
  say "removed $mnt, ${loop_dev:-no loop device} and $backing"
}

case "$action" in
  up) up ;;
  down) down ;;
  *) die "usage: $me up [--size 4G] [--fs ext4|xfs] [--name NAME] | down [--name NAME]" ;;
esac
