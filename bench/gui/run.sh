#!/usr/bin/env bash
# Scrolling the frame grid of a 100,000-frame project under Xvfb, then label keys in the frame
# view (on it and on 60 frames of 1280×720), 3 runs (see scroll.py).
# Usage: bench/gui/run.sh [BUILD_DIR]   (default _build; build it first)
# Prints each main-loop stall over 16 ms with the gesture it fell in, then, last, the medians
# of the 3 runs: worst_gap_ms=N open_ms=N next_frame_ms=N load=L
set -euo pipefail
build=$(cd "${1:-_build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export GEMBA_BUILD_ROOT="$build"
# One stream, in order (the project generator's progress comes first); dbus-run-session's
# warning about its fd limit is not ours.
xvfb-run -a -s "-screen 0 1920x1080x24 -noreset" dbus-run-session -- \
  /usr/bin/python3 "$here/scroll.py" 2>&1 | grep --line-buffered -v "fd limit"
