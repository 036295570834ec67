#!/bin/sh
# The time to open a 100,000-frame team project in the workbench and with `gemba stats`,
# against the same project in SQLite (see open.py), 3 runs each, medians and ratios.
#   bench/team/open.sh [BUILD_DIR]   (default _build; build it first)
# Starts its own throwaway server (tests/server/with-server.sh) unless GEMBA_TEST_SERVER
# names one (it then creates database gemba_open on it) and its own Xvfb display.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-_build}" && pwd)
export GEMBA_BUILD_ROOT="$build"
if [ -z "${GEMBA_TEST_SERVER:-}" ]; then
  exec "$here/../../tests/server/with-server.sh" "$0" "$build"
fi
echo "# set in the environment (left alone): OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
  "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
xvfb-run -a -s "-screen 0 1920x1080x24 -noreset" dbus-run-session -- \
  /usr/bin/python3 "$here/open.py" 2>&1 | grep --line-buffered -v "fd limit"
