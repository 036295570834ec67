#!/bin/sh
# bench/gst/run.sh: what gembaclassify costs a pipeline, against the same pipeline through
# `identity`, measured in one run.
#
#   bench/gst/run.sh [BUILD_DIR] [SIZE]      (defaults: _build, 64: the model's input size)
#
# Makes a signed package (demo project, one epoch of the small CNN at SIZE×SIZE, a fresh key),
# then for 640×480 and 1280×720 RGB runs
#   videotestsrc num-buffers=N ! video/x-raw,format=RGB,… ! ELEMENT ! fakesink sync=false
# with ELEMENT = identity (the reference) and gembaclassify (every frame classified, no spool),
# for N = 1,000 and 10,000, and prints frames per second, the per-frame overhead over identity in
# µs ((T_gemba - T_identity) / N), and the peak RSS of each run (GNU time's %M: flat from 1,000
# to 10,000 frames means no growth per frame). Never a pass/fail test: note the load average.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/_build}
size=${2:-64}
case $build in /*) ;; *) build=$here/$build ;; esac
gemba=$build/src/cli/gemba
[ -x "$gemba" ] || { echo "no $gemba: build it first" >&2; exit 2; }
[ -f "$build/src/gst/libgstgemba.so" ] || { echo "no plugin in $build/src/gst" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 2; }

export GST_PLUGIN_PATH="$build/src/gst"
work=$(mktemp -d "${TMPDIR:-/tmp}/gemba-bench-gst-XXXXXX")
trap 'rm -rf "$work"' EXIT
export GST_REGISTRY="$work/registry.bin"

echo "# set in the environment (left alone): OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
  "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
echo "load before: $(uptime)"
"$gemba" demo "$work/p" --quiet
"$gemba" train "$work/p" --size "$size" --epochs 1 --quiet >/dev/null
"$gemba" keygen --out "$work/keys" >/dev/null
"$gemba" export "$work/p" 1 -o "$work/bench.gemba" --key "$work/keys/secret" >/dev/null
echo "package: small CNN, input ${size}x${size}, 4 classes"

# Prints "SECONDS MAX_RSS_KIB" of one pipeline run.
run () {  # width height frames element...
  w=$1; h=$2; n=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$work/time" gst-launch-1.0 -q videotestsrc num-buffers="$n" \
    ! "video/x-raw,format=RGB,width=$w,height=$h,framerate=30/1" ! "$@" \
    ! fakesink sync=false >/dev/null
  cat "$work/time"
}

# The first gst-launch builds the registry (about 100 MiB RSS): not part of any measurement.
gst-inspect-1.0 gembaclassify >/dev/null

printf '%-9s %-13s %7s %9s %9s %12s\n' size element frames fps "µs/frame" "peak RSS MiB"
for res in 640x480 1280x720; do
  w=${res%x*}; h=${res#*x}
  for n in 1000 10000; do
    set -- $(run "$w" "$h" "$n" identity); ti=$1; ri=$2
    set -- $(run "$w" "$h" "$n" gembaclassify package="$work/bench.gemba" trust="$work/keys/public")
    tg=$1; rg=$2
    awk -v res="$res" -v n="$n" -v ti="$ti" -v tg="$tg" -v ri="$ri" -v rg="$rg" 'BEGIN {
      printf "%-9s %-13s %7d %9.0f %9s %12.1f\n", res, "identity", n, n / ti, "-", ri / 1024
      printf "%-9s %-13s %7d %9.0f %9.0f %12.1f\n", res, "gembaclassify", n, n / tg,
             (tg - ti) / n * 1e6, rg / 1024
    }'
  done
done
echo "load after: $(uptime)"
