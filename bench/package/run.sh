#!/bin/sh
# run.sh [BUILD-DIR]: Gemba's inference (C API, gemba infer) against ONNX Runtime on the same
# exported model, 1 thread then 2, in one run. Installs onnxruntime-node into BUILD-DIR/ort
# first if needed (tests/package/setup-onnxruntime.sh).
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/_build}" && pwd)
[ -d "$BUILD/ort/node_modules/onnxruntime-node" ] || "$SRC/tests/package/setup-onnxruntime.sh" "$BUILD"
ninja -C "$BUILD" bench/package/bench-infer >/dev/null
for t in 1 2; do
  OPENBLAS_NUM_THREADS=1 "$BUILD/bench/package/bench-infer" --threads "$t" \
    "$SRC/tests/package/onnx-run.js" "$BUILD/ort/node_modules"
done
