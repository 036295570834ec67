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
# multiple of real time, with the CPU time of each. Never a pass/fail test: note the load
# average printed with it.
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

# "WALL CPU" seconds of the command: the best wall clock of three runs, and the CPU time
# (user + system) of that run. CPU time hardly depends on what else the machine runs; the wall
# clock does (2 cores are shared), so both are printed.
best_of_three () {
  best=""
  for run in 1 2 3; do
    # A new project each run, the old ones kept until the end: deleting hundreds of frames
    # just before an import makes ext4 search its recently freed inodes for every new file,
    # a cost of the benchmark, not of importing.
    project=$(mktemp -d "$work/project-XXXXXX")
    rmdir "$project"
    "$gemba" init "$project" >/dev/null
    ln -sfn "$project" "$work/p"
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>&1 \
      || { echo "failed: $*" >&2; exit 1; }
    t=$(cut -d' ' -f1 "$work/time")
    cpu=$(awk '{ print $2 + $3 }' "$work/time")
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; best_cpu=$cpu; fi
  done
  echo "$best $best_cpu"
}

uri="file://$video"
r_decode=$(best_of_three gst-launch-1.0 -q uridecodebin uri="$uri" ! fakesink sync=false)
r_all=$(best_of_three "$gemba" import "$work/p" "$video" -q)
n_all=$("$gemba" ls "$work/p" | tail -n +2 | wc -l)
r_every=$(best_of_three "$gemba" import "$work/p" "$video" --every 15 -q)
n_every=$("$gemba" ls "$work/p" | tail -n +2 | wc -l)
t_decode=${r_decode% *}; c_decode=${r_decode#* }
t_all=${r_all% *}; c_all=${r_all#* }
t_every=${r_every% *}; c_every=${r_every#* }

video_seconds=$(echo "$frames / 30" | bc -l)
printf '%-44s %7.3f s wall %6.1f frames/s  %6.2f s CPU\n' \
  "decode (uridecodebin ! fakesink sync=false)" "$t_decode" \
  "$(echo "$frames / $t_decode" | bc -l)" "$c_decode"
printf '%-44s %7.3f s wall %6.1f frames/s  %6.2f s CPU  (%s stored)\n' \
  "gemba import, every frame (JPEG q95)" "$t_all" "$(echo "$frames / $t_all" | bc -l)" \
  "$c_all" "$n_all"
printf '%-44s %7.3f s wall %6.1f frames/s  %6.2f s CPU  (%s stored)\n' \
  "gemba import --every 15" "$t_every" "$(echo "$frames / $t_every" | bc -l)" "$c_every" \
  "$n_every"
printf 'every frame: %.2f x the rate of GStreamer decoding alone (goal >= 0.8); CPU time %.2f x\n' \
  "$(echo "$t_decode / $t_all" | bc -l)" "$(echo "$c_all / $c_decode" | bc -l)"
printf -- '--every 15: %.1f x real time (%.1f s of video in %.3f s)\n' \
  "$(echo "$video_seconds / $t_every" | bc -l)" "$video_seconds" "$t_every"
echo "load after: $(uptime)"
