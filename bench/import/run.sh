#!/usr/bin/env bash
# Import rate of `gemba import`: 1,000 JPEGs of 1280×720 and 10,000 of 320×240.
# Usage: bench/import/run.sh [BUILD_DIR]   (default _build; build it first)
# Prints frames/s and the peak memory (max RSS) of each import.
set -euo pipefail
build=$(cd "${1:-_build}" && pwd)
gemba="$build/src/cli/gemba"
make="$build/bench/import/make-jpegs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # name count width height
  local name=$1 n=$2 w=$3 h=$4
  "$make" "$work/$name" "$n" "$w" "$h"
  local bytes; bytes=$(du -sb "$work/$name" | cut -f1)
  "$gemba" init "$work/p-$name" --classes ok >/dev/null
  sync
  local start end rss
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss" "$gemba" import "$work/p-$name" "$work/$name" --quiet
  end=$(date +%s.%N)
  rss=$(cat "$work/rss")
  awk -v n="$n" -v s="$start" -v e="$end" -v rss="$rss" -v mb="$bytes" -v name="$name" \
    'BEGIN { t = e - s; printf "%-22s %6d frames %7.1f MB  %6.2f s  %7.0f frames/s  max RSS %5.1f MB\n",
             name, n, mb / 1e6, t, n / t, rss / 1024 }'
}

echo "gemba import on $(nproc) cores (load: $(cut -d' ' -f1-3 /proc/loadavg))"
run 1280x720 1000 1280 720
run 320x240 10000 320 240
