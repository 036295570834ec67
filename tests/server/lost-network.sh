#!/bin/sh
# Runs TEST's /core/store/team-lost-network with a throwaway server reached over TCP in a
# private network namespace (unshare --net), whose loopback the test takes down and up again:
# to the client a lost network (packets go nowhere, nothing says so), to the rest of the
# machine nothing. Needs root (CI runs as root); skipped otherwise.
#   tests/server/lost-network.sh TEST
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! unshare --net true 2>/dev/null || ! command -v ip >/dev/null; then
  echo "lost-network.sh: skipped: needs root, unshare --net and ip (iproute2)" >&2
  exit 77
fi
export GEMBA_TEST_LOST_NETWORK=1 GEMBA_TEST_SERVER_TCP=54320
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
  "$here/with-server.sh" "$1" -p /core/store/team-lost-network
