#!/bin/sh
# setup-onnxruntime.sh BUILD-DIR: installs onnxruntime-node (CPU) into BUILD-DIR/ort for the
# ONNX comparison test (test-onnx) and the latency benchmark. Nothing outside BUILD-DIR changes.
# ONNXRUNTIME_NODE_INSTALL=skip skips the install script's optional downloads (CUDA, TensorRT);
# the npm package itself carries the CPU binaries for linux/x64, which this script checks.
set -eu
BUILD=$(cd "${1:?usage: setup-onnxruntime.sh BUILD-DIR}" && pwd)
mkdir -p "$BUILD/ort"
cd "$BUILD/ort"
[ -f package.json ] || echo '{"private": true}' > package.json
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0
node -e "require('onnxruntime-node'); console.log('onnxruntime-node', require('onnxruntime-node/package.json').version, 'ready in $BUILD/ort')"
