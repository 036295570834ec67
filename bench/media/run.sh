#!/bin/sh
# bench/media/run.sh: video import speed against GStreamer's own decoding, measured in one run.
#
#   bench/media/run.sh [BUILD_DIR] [FRAMES]      (defaults: _build, 300)
#
# Makes a 1280×720, 30 fps VP8/WebM video (videotestsrc smpte bars scrolling, so every frame
# differs), then times, best of three runs each:
#   decode   gst-launch-1.0 uridecodebin ! fakesink sync=false   (GStreamer alone: the reference)
#   all      gemba import PROJECT video.webm                     (every frame: RGB, JPEG q95, store)
#   every15  gemba import PROJECT video.webm --every 15
# and prints the rates, "all" as a ratio of "decode" (the goal is ≥ 0.8), and "every15" as a
# multiple of real time. Never a pass/fail test: note the load average printed with it.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/_build}
frames=${2:-300}
case $build in /*) ;; *) build=$here/$build ;; esac
gemba=$build/src/cli/gemba
[ -x "$gemba" ] || { echo "no $gemba: build it first (ninja -C $build src/cli/gemba)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gemba-bench-media-XXXXXX")
trap 'rm -rf "$work"' EXIT
video=$work/line-720p.webm

echo "load before: $(uptime)"
gst-launch-1.0 -q videotestsrc pattern=smpte horizontal-speed=4 num-buffers="$frames" \
  ! video/x-raw,width=1280,height=720,framerate=30/1 \
  ! vp8enc deadline=1 cpu-used=8 target-bitrate=4000000 ! webmmux \
  ! filesink location="$video"
echo "video: $frames frames, 1280x720, 30 fps, VP8 in WebM, $(du -k "$video" | cut -f1) KiB"

# Seconds (wall clock) of the command, best of three.
best_of_three () {
  best=""
  for run in 1 2 3; do
    rm -rf "$work/p"
    "$gemba" init "$work/p" >/dev/null
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

uri="file://$video"
t_decode=$(best_of_three gst-launch-1.0 -q uridecodebin uri="$uri" ! fakesink sync=false)
t_all=$(best_of_three "$gemba" import "$work/p" "$video" -q)
n_all=$("$gemba" ls "$work/p" | tail -n +2 | wc -l)
t_every=$(best_of_three "$gemba" import "$work/p" "$video" --every 15 -q)
n_every=$("$gemba" ls "$work/p" | tail -n +2 | wc -l)

video_seconds=$(echo "$frames / 30" | bc -l)
printf '%-46s %8.3f s  %7.1f frames/s\n' "decode (uridecodebin ! fakesink sync=false)" \
  "$t_decode" "$(echo "$frames / $t_decode" | bc -l)"
printf '%-46s %8.3f s  %7.1f frames/s  (%s stored)\n' "gemba import, every frame (JPEG q95)" \
  "$t_all" "$(echo "$frames / $t_all" | bc -l)" "$n_all"
printf '%-46s %8.3f s  %7.1f frames/s  (%s stored)\n' "gemba import --every 15" \
  "$t_every" "$(echo "$frames / $t_every" | bc -l)" "$n_every"
printf 'every frame: %.2f x the rate of GStreamer decoding alone (goal >= 0.8)\n' \
  "$(echo "$t_decode / $t_all" | bc -l)"
printf -- '--every 15: %.1f x real time (%.1f s of video in %.3f s)\n' \
  "$(echo "$video_seconds / $t_every" | bc -l)" "$video_seconds" "$t_every"
echo "load after: $(uptime)"
