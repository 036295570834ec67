#!/bin/sh
# Gemba against PyTorch (Debian's python3-torch) on the same architectures, batch and threads,
# in one run: images per second, the ratios, and the fraction of the machine's cblas_sgemm
# peak (measured in the same run) that Gemba's convolutions reach.
#
#   bench/nn/run.sh [BUILD_DIR] [THREADS] [SECONDS]
#
# Use a release build: meson setup _build-release -Dbuildtype=release && ninja -C _build-release
# Figures are only meaningful on an otherwise idle machine; the load is printed with them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build-release}
threads=${2:-2}
seconds=${3:-6}
gemba="$build/bench/nn/bench-nn"
python=/usr/bin/python3

if [ ! -x "$gemba" ]; then
  echo "run.sh: $gemba not found; build it first (see the header of this script)" >&2
  exit 2
fi
if ! $python -c "import torch" 2>/dev/null; then
  echo "run.sh: $python cannot import torch (apt install python3-torch)" >&2
  exit 2
fi

field () { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "# $(date -u '+%F %T') $(uname -m), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# threads=$threads seconds=$seconds torch=$($python -c 'import torch; print(torch.__version__)')"
printf '%-34s %12s %12s %12s %9s %9s %s\n' "benchmark" "gemba" "torch-nchw" "torch-cl" \
  "vs nchw" "vs cl" "conv/peak"

# training throughput (images/s, higher is better)
train () {
  arch=$1 size=$2 wm=$3
  g=$("$gemba" --arch "$arch" --size "$size" --width-mult "$wm" --batch 32 --threads "$threads" \
        --seconds "$seconds" --mode train)
  tn=$($python "$here/torch_bench.py" --arch "$arch" --size "$size" --width-mult "$wm" \
        --batch 32 --threads "$threads" --seconds "$seconds" --mode train --layout nchw)
  tc=$($python "$here/torch_bench.py" --arch "$arch" --size "$size" --width-mult "$wm" \
        --batch 32 --threads "$threads" --seconds "$seconds" --mode train --layout channels_last)
  gi=$(echo "$g" | field images_per_s)
  ni=$(echo "$tn" | field images_per_s)
  ci=$(echo "$tc" | field images_per_s)
  printf '%-34s %12s %12s %12s %9s %9s %s\n' "train $arch $wm ${size}x$size b32 img/s" \
    "$gi" "$ni" "$ci" "$(ratio "$gi" "$ni")" "$(ratio "$gi" "$ci")" \
    "$(echo "$g" | field conv_fraction_of_peak) of $(echo "$g" | field sgemm_peak_gflops) GFLOP/s"
}

# inference latency at batch 1 (ms per image, lower is better; ratio = torch / gemba)
infer () {
  arch=$1 size=$2 wm=$3
  g=$("$gemba" --arch "$arch" --size "$size" --width-mult "$wm" --batch 1 --threads "$threads" \
        --seconds "$seconds" --mode infer)
  tn=$($python "$here/torch_bench.py" --arch "$arch" --size "$size" --width-mult "$wm" \
        --batch 1 --threads "$threads" --seconds "$seconds" --mode infer --layout nchw)
  tc=$($python "$here/torch_bench.py" --arch "$arch" --size "$size" --width-mult "$wm" \
        --batch 1 --threads "$threads" --seconds "$seconds" --mode infer --layout channels_last)
  gm=$(echo "$g" | field ms_per_batch)
  nm=$(echo "$tn" | field ms_per_batch)
  cm=$(echo "$tc" | field ms_per_batch)
  printf '%-34s %12s %12s %12s %9s %9s %s\n' "infer $arch $wm ${size}x$size b1 ms" \
    "$gm" "$nm" "$cm" "$(ratio "$nm" "$gm")" "$(ratio "$cm" "$gm")" \
    "$(echo "$g" | field conv_fraction_of_peak) of $(echo "$g" | field sgemm_peak_gflops) GFLOP/s"
}

train small-cnn 64 1.0
train small-cnn 128 1.0
train mobilenetv2 224 1.0
infer small-cnn 128 1.0
infer mobilenetv2 224 1.0
echo "# ratios: training gemba/torch (images/s); inference torch/gemba (latency). >1: Gemba faster."
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
