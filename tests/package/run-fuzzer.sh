#!/bin/sh
# run-fuzzer.sh SECONDS [TARGET]: libFuzzer on the package reader and the manifest parser.
#
# TARGET is fuzz-package (default: package bytes, seeds in corpus/) or fuzz-manifest (a
# manifest's text, signed at fuzz time with a trusted key, seeds in corpus-manifest/).
#
# Builds Gemba with clang in its own folder ($GEMBA_FUZZ_BUILD, default _build-fuzz at the top
# of the tree) with AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's coverage on
# the whole core library, then fuzzes for SECONDS starting from a copy of tests/package/corpus
# (new inputs stay in that copy; the source tree is never written). A crash leaves its input in
# the work folder printed at the end and fails the script. Exits 77 (skipped) without clang.
#
#   tests/package/run-fuzzer.sh 600          # ten minutes, by hand
#   GEMBA_FUZZ_JOBS=2 tests/package/run-fuzzer.sh 3600
set -eu

SECONDS_TO_RUN=${1:-60}
TARGET=${2:-fuzz-package}
case "$TARGET" in
  fuzz-package) CORPUS=corpus ;;
  fuzz-manifest) CORPUS=corpus-manifest ;;
  *) echo "run-fuzzer.sh: unknown target $TARGET"; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${GEMBA_FUZZ_BUILD:-$SRC/_build-fuzz}
CLANG=${CLANG:-clang}

if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "run-fuzzer.sh: $CLANG not found; skipping"
  exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
     "$CLANG" -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then
  echo "run-fuzzer.sh: $CLANG cannot link libFuzzer (install libclang-rt-dev); skipping"
  exit 77
fi

# Both libFuzzer tests may start at once in a fresh tree: one of them sets up and builds.
mkdir -p "$(dirname "$BUILD")"
exec 9>"$BUILD.lock"
flock 9
if [ ! -f "$BUILD/build.ninja" ]; then
  # werror off: clang warns about things gcc does not, in code that is not the fuzzer's business.
  env -u CFLAGS -u LDFLAGS CC="$CLANG" meson setup "$BUILD" "$SRC" \
    -Dgui=false -Dmedia=false -Dbuildtype=debugoptimized -Dwerror=false \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link >"$BUILD.setup.log" 2>&1 ||
    { cat "$BUILD.setup.log"; exit 1; }
fi
ninja -C "$BUILD" "tests/package/$TARGET" >/dev/null ||
  ninja -C "$BUILD" "tests/package/$TARGET"
flock -u 9
exec 9>&-

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gemba-$TARGET-XXXXXX")
mkdir "$WORK/corpus"
cp "$HERE/$CORPUS"/* "$WORK/corpus/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
"$BUILD/tests/package/$TARGET" \
  -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$WORK/" \
  ${GEMBA_FUZZ_JOBS:+-jobs=$GEMBA_FUZZ_JOBS -workers=$GEMBA_FUZZ_JOBS} \
  "$WORK/corpus" >"$WORK/log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/log" | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ]; then
  tail -n 60 "$WORK/log"
  echo "run-fuzzer.sh: FINDING after $execs executions; input and log in $WORK"
  exit 1
fi
echo "run-fuzzer.sh: $TARGET: $execs executions in ${SECONDS_TO_RUN}s without a finding" \
     "(corpus grew to $(ls "$WORK/corpus" | wc -l) inputs)"
rm -rf "$WORK"
