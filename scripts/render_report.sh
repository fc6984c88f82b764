#!/usr/bin/env bash
# Renders an HTML file (e.g. an aiobench sweep --report) to a PNG with headless Chromium,
# offline: no network, a throwaway profile. Usage: scripts/render_report.sh IN.html OUT.png [WIDTH]
# Needs Debian's chromium (apt-get install -y chromium); set CHROMIUM to use another binary.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 IN.html OUT.png [WIDTH]" >&2
  exit 2
fi
in="$1" out="$2" width="${3:-1400}"
[ -f "$in" ] || { echo "$0: $in does not exist" >&2; exit 2; }
[[ "$width" =~ ^[0-9]+$ ]] || { echo "$0: WIDTH $width is not a number of pixels" >&2; exit 2; }
browser="${CHROMIUM:-}"
if [ -z "$browser" ]; then
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then browser="$(command -v "$name")"; break; fi
  done
fi
if [ -z "$browser" ]; then
  echo "$0: no chromium found; install it with: apt-get install -y chromium" >&2
  exit 3
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# Tall enough for the whole report; Chromium's headless screenshot has no full-page mode.
height="${RENDER_HEIGHT:-4000}"
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(--no-sandbox)
url="file://$(cd "$(dirname "$in")" && pwd)/$(basename "$in")"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
rm -f "$out_abs"
timeout 60 "$browser" --headless "${sandbox[@]}" --disable-gpu --hide-scrollbars \
  --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
  --disable-sync --disable-component-update --proxy-server="127.0.0.1:9" --proxy-bypass-list="<-loopback>" \
  --user-data-dir="$profile" --window-size="$width,$height" --screenshot="$out_abs" "$url" \
  >"$profile/log" 2>&1 || { cat "$profile/log" >&2; echo "$0: chromium failed" >&2; exit 1; }
[ -s "$out_abs" ] || { cat "$profile/log" >&2; echo "$0: chromium wrote no $out" >&2; exit 1; }
echo "$out"
