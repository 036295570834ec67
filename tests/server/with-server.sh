#!/bin/sh
# Runs a command with a throwaway PostgreSQL server: a cluster in a temporary folder, reached
# only through a unix socket there, removed afterwards. The command sees the server's URI in
# GEMBA_TEST_SERVER (database "gemba"; it may create more). PostgreSQL refuses to run as
# root, and CI runs as root: the cluster then belongs to the unprivileged user "nobody".
# GEMBA_TEST_SERVER_CTL names a script that stops and starts that server in the middle of
# the command, for the fault tests (it runs pg_ctl as the server's owner, as here):
#   $GEMBA_TEST_SERVER_CTL stop [fast|immediate]   fast (default): sessions are told "admin
#                                                   shutdown"; immediate: as if it crashed
#   $GEMBA_TEST_SERVER_CTL start                    returns once it accepts connections
#   $GEMBA_TEST_SERVER_CTL restart [fast|immediate]
#   $GEMBA_TEST_SERVER_CTL status                   exit 0 while it runs
# GEMBA_TEST_SERVER_TCP=PORT: the server also listens on 127.0.0.1:PORT, and the URI reaches it
# there (for tests/server/lost-network.sh, whose private network it takes away).
#   tests/server/with-server.sh COMMAND [ARGS…]
set -eu

bindir=${GEMBA_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && bindir=$dir
  done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "with-server.sh: no PostgreSQL server found (install postgresql-15)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/gemba-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then
  user=nobody
  chown "$user" "$dir"
  as_owner() { setpriv --reuid="$user" --regid=nogroup --clear-groups -- "$@"; }
else
  user=$(id -un)
  as_owner() { "$@"; }
fi
chmod 700 "$dir"

cleanup() {
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
child=
trap cleanup EXIT
# The command runs in the background so that a signal is handled at once (sh runs traps only
# between foreground commands): passed on to it, then the server is stopped and removed.
trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 1' INT TERM

as_owner "$bindir/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# No TCP at all; fsync off: the cluster dies with the test.
tcp_port=${GEMBA_TEST_SERVER_TCP:-}
if [ -n "$tcp_port" ]; then
  options="-c listen_addresses=127.0.0.1 -c port=$tcp_port -k $dir -c fsync=off -c full_page_writes=off"
else
  options="-c listen_addresses= -k $dir -c fsync=off -c full_page_writes=off"
fi
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" start \
  >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

# The control script: the same pg_ctl, as the same user, on the same cluster.
if [ "$(id -u)" = 0 ]; then
  run_as="setpriv --reuid=$user --regid=nogroup --clear-groups --"
else
  run_as=
fi
cat >"$dir/ctl" <<EOF
#!/bin/sh
# Stops and starts the throwaway server of tests/server/with-server.sh (see there).
set -eu
pg_ctl() { $run_as "$bindir/pg_ctl" -D "$dir/data" "\$@"; }
case "\${1:-}" in
  stop) pg_ctl -m "\${2:-fast}" -w -t 60 stop >/dev/null ;;
  start) pg_ctl -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null ;;
  restart) pg_ctl -m "\${2:-fast}" -l "$dir/server.log" -w -t 60 -o "$options" restart \\
             >/dev/null ;;
  status) pg_ctl status >/dev/null ;;
  *) echo "usage: \$0 stop|start|restart [fast|immediate] | status" >&2; exit 2 ;;
esac
EOF
chmod 755 "$dir/ctl"
as_owner "$bindir/createdb" -h "$dir" ${tcp_port:+-p "$tcp_port"} -U "$user" gemba

if [ -n "$tcp_port" ]; then
  GEMBA_TEST_SERVER="postgresql://127.0.0.1:$tcp_port/gemba?user=$user"
else
  GEMBA_TEST_SERVER="postgresql:///gemba?host=$dir&user=$user"
fi
GEMBA_TEST_SERVER_CTL="$dir/ctl"
export GEMBA_TEST_SERVER GEMBA_TEST_SERVER_CTL
"$@" &
child=$!
status=0
wait "$child" || status=$?
exit $status
