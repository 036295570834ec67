#!/bin/sh
# The whole learning loop on a lighting shift, Gemba's CLI against a plain PyTorch script on the
# same frames, three seeds in one run; prints a table (mean ± std) and issue 10's targets.
#
#   bench/loop/run.sh [BUILD_DIR] [SEEDS] [--gemba-only] [--keep] [--json FILE]
#                                                (defaults: _build, 1,2,3)
#
# --gemba-only skips the PyTorch half (quick comparisons of Gemba's own changes on a seed or
# two; the targets against PyTorch then say "not measured").
# BUILD_DIR is the build the README makes (meson's default buildtype for this project is
# debugoptimized, -O2). Takes about 10 minutes per seed on an idle 2-core machine; the figures
# are only meaningful on an otherwise idle machine, so the load is printed with them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build}
seeds=${2:-1,2,3}
shift $(($# < 2 ? $# : 2))
python=/usr/bin/python3

for f in "$build/src/cli/gemba" "$build/bench/loop/make-frames"; do
  if [ ! -x "$f" ]; then
    echo "run.sh: $f not found; build first (meson setup $build && meson compile -C $build)" >&2
    exit 2
  fi
done
if ! $python -c "import torch, numpy" 2>/dev/null; then
  echo "run.sh: $python cannot import torch and numpy (build-aux/setup.sh bench)" >&2
  exit 2
fi

echo "# $(date -u '+%F %T') $(uname -m), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
# Rounding, and so every model, differs between CPUs (OpenBLAS and Gemba's kernels pick their
# code by CPU): say which one.
echo "# CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
  "AVX-512: $(grep -q '^flags.* avx512f' /proc/cpuinfo && echo yes || echo no)"
echo "# build $build: $(meson introspect "$build" --buildoptions 2>/dev/null | $python -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print("buildtype=%s optimization=%s" % (o.get("buildtype"), o.get("optimization")))' || echo '?')"
echo "# torch $($python -c 'import torch; print(torch.__version__)'), 2 threads on both sides"
echo "# set in the environment (left alone): OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
  "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
exec $python "$here/loop.py" --build "$build" --seeds "$seeds" "$@"
