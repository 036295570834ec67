#!/bin/sh
# Annotators on one review queue (issue 13): ANNOTATORS processes take frames from the review
# queue of a FRAMES-frame project and label them as fast as they can, on a team project
# (PostgreSQL) and, as the reference, on the same project in SQLite; then once more on the
# server with one annotator killed (SIGKILL, then a new process started in its place) and the
# server restarted (pg_ctl restart -m fast) in the middle. Checks every run: 0 confirmed labels
# lost, 0 frames labeled twice, 0 frames left, 0 leases held afterwards; exits 1 when one fails.
#
#   bench/team/run.sh [BUILD_DIR [FRAMES [ANNOTATORS [PAUSE_MS]]]]   (_build 10000 4 0)
#
# PAUSE_MS makes each annotator wait that long after each label (the meson test `team-bench`
# runs 200 frames, 2 annotators, 10 ms, so that the kill and the restart fall mid-run).
# GEMBA_BENCH_LEASE_SECONDS (default 5) is the annotators' lease timeout: how long a killed
# annotator's frames wait before others take them (Gemba's default is 2 minutes, which would
# make the run mostly wait); GEMBA_BENCH_CLAIM (default 1) how many frames a claim takes.
# Starts its own throwaway server (tests/server/with-server.sh) unless GEMBA_TEST_SERVER names
# one (then it creates databases team_a and team_b on it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-_build}" && pwd)
frames=${2:-10000}
annotators=${3:-4}
pause_ms=${4:-0}
train=400                       # labeled frames the first model is trained on
lease_s=${GEMBA_BENCH_LEASE_SECONDS:-5}   # the annotators' lease timeout (Gemba's default: 120)
claim=${GEMBA_BENCH_CLAIM:-1}             # frames claimed at a time

gemba=$build/src/cli/gemba
tb=$build/bench/team/team-bench
for f in "$gemba" "$tb"; do
  if [ ! -x "$f" ]; then
    echo "run.sh: $f not found; build first (meson setup _build && meson compile -C _build)" >&2
    exit 2
  fi
done
if [ -z "${GEMBA_TEST_SERVER:-}" ]; then
  exec "$here/../../tests/server/with-server.sh" "$0" "$build" "$frames" "$annotators" "$pause_ms"
fi

work=$(mktemp -d /tmp/gemba-team-bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

echo "# $(date -u '+%F %T') $(uname -m), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $frames frames in the review queue, $annotators annotators, ${pause_ms} ms pause after each" \
  "label, $claim frame(s) claimed at a time, leases of $lease_s s"
echo "# set in the environment (left alone): OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
  "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"

# --- the project: frames, a first model in production, its predictions ---------------------
base=$work/base
t0=$(date +%s.%N)
setup() { "$@" >"$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; exit 1; }; }
setup "$tb" make "$base" "$frames" "$train" 32
setup "$gemba" split "$base"
setup "$gemba" train "$base" -e 3 --size 32 --seed 1 -q
setup "$gemba" predict "$base" 1 -q
setup "$gemba" promote "$base" 1
queue=$("$gemba" ls "$base" --review | tail -n +2 | wc -l)
echo "# project: $frames + $train frames, model 1 in production, review queue $queue frames" \
  "(made in $(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }') s)"
if [ "$queue" -ne "$frames" ]; then
  echo "run.sh: the review queue has $queue frames, expected $frames" >&2
  exit 1
fi

# A team project on database DB of the server: the base project migrated there, and a folder
# with its frames and models naming the server.
server_uri() { echo "$GEMBA_TEST_SERVER" | sed "s|^\(postgresql://[^/?]*\)/[^?]*|\1/$1|"; }
make_team() {  # DIR DB
  psql -q "$GEMBA_TEST_SERVER" -c "CREATE DATABASE $2" >/dev/null
  "$gemba" migrate "$base" --to "$(server_uri "$2")" -q >/dev/null
  mkdir "$1"
  cp -al "$base/frames" "$base/models" "$1/"
  mkdir "$1/thumbs"
  printf '[server]\nuri=%s\n' "$(server_uri "$2")" >"$1/gemba-server.ini"
}

restart_server() {
  if [ -n "${GEMBA_TEST_SERVER_CTL:-}" ]; then
    "$GEMBA_TEST_SERVER_CTL" restart fast
    return
  fi
  # As tests/server/with-server.sh runs pg_ctl: as the cluster's owner (nobody when root).
  sock=$(echo "$GEMBA_TEST_SERVER" | sed 's|.*[?&]host=\([^&]*\).*|\1|')
  bindir=${GEMBA_PG_BINDIR:-}
  if [ -z "$bindir" ]; then
    for dir in /usr/lib/postgresql/*/bin; do
      [ -x "$dir/pg_ctl" ] && bindir=$dir
    done
  fi
  set -- "$bindir/pg_ctl" -D "$sock/data" -l "$sock/server.log" -w -t 60 -m fast restart
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid="$(stat -c %U "$sock/data")" --regid=nogroup --clear-groups -- "$@" >/dev/null
  else
    "$@" >/dev/null
  fi
}

logged() { cat "$work/$1".*.log 2>/dev/null | wc -l; }
running() { for pid in $pids; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
wait_logged() {  # RUN N: until N labels are logged (or every annotator has stopped)
  while [ "$(logged "$1")" -lt "$2" ] && running; do
    sleep 0.02
  done
}

# Lease rows left in the table (live or expired; leases are deleted when the frame is labeled).
lease_rows() {  # PROJECT DB|-
  if [ "$2" = - ]; then
    sqlite3 "$1/project.gemba" "SELECT count(*) FROM leases" 2>/dev/null || echo -
  else
    psql -tAq "$(server_uri "$2")" -c "SELECT count(*) FROM leases" 2>/dev/null || echo -
  fi
}

annotate() {  # RUN PROJECT NAME LOG-SUFFIX
  "$tb" label "$2" "$3" "$work/$1.$4.log" --pause-ms "$pause_ms" --lease-seconds "$lease_s" \
    --claim "$claim" >"$work/$1.$4.out" 2>"$work/$1.$4.err" &
  pids="$pids $!"
}

# run NAME PROJECT DB|- FAULTS(0|1): the annotators, then the check; appends a row to the table
status=0
run() {
  name=$1 project=$2 db=$3 faults=$4
  pids=
  start=$(date +%s.%N)
  for i in $(seq 1 "$annotators"); do
    annotate "$name" "$project" "annotator-$i" "$i"
  done
  faults_at=- orphans=
  if [ "$faults" = 1 ]; then
    wait_logged "$name" $((frames / 4))
    victim=$(echo $pids | cut -d' ' -f2)
    kill -KILL "$victim"
    wait "$victim" 2>/dev/null || true
    pids=$(echo $pids | tr ' ' '\n' | grep -vx "$victim" | tr '\n' ' ')
    killed=$(logged "$name")
    # The frames it held: each must be labeled once, by someone else once its lease expires.
    if "$tb" leases "$project" >"$work/$name.leases" 2>/dev/null; then
      awk '$2 == "annotator-2"' "$work/$name.leases" >"$work/$name.orphans"
      orphans="--orphans $work/$name.orphans"
    fi
    # A new process in its place, under a new name (the old name would get its leases back).
    annotate "$name" "$project" "annotator-2b" 2b
    wait_logged "$name" $((frames / 2))
    restarted=$(logged "$name")
    restart_server
    faults_at="$killed / $restarted"
  fi
  failed=0
  for pid in $pids; do
    wait "$pid" || failed=1
  done
  end=$(date +%s.%N)
  for f in "$work/$name".*.err; do
    [ -s "$f" ] && sed "s|^|  $name $(basename "$f" .err | cut -d. -f2): |" "$f" | head -20
  done
  # shellcheck disable=SC2086
  check=$("$tb" check "$project" "$frames" $orphans "$work/$name".*.log) || failed=1
  echo "$check" | grep -v '^author ' | sed "s|^|  $name: |"
  wall=$(echo "$end $start" | awk '{ printf "%.2f", $1 - $2 }')
  get() { echo "$check" | sed -n "/^queue_frames /s/.* $1 \([0-9-]*\).*/\1/p"; }
  labels=$(get labels)
  per=$(cat "$work/$name".*.out | awk '/^annotator/ { printf "%s%.0f", sep, $4 / $6; sep = ", " }')
  [ "$faults" = 1 ] && per="$per (killed: $(wc -l <"$work/$name.2.log") labels)"
  retry=$(cat "$work/$name".*.out | awk '/^annotator/ { d += $8; r += $10; c += $12; w += $14 }
                                          END { printf "%d / %d / %d / %d", d, r, c, w }')
  orph=-
  [ -n "$orphans" ] && orph="$(get orphans_labeled_once) of $(get orphans)"
  printf '| %s | %s | %s | %.0f | %s | %s | %s | %s | %s / %s | %s | %s | %s |\n' \
    "$name" "$wall" "$labels" "$(echo "$labels $wall" | awk '{ print $1 / $2 }')" "$per" \
    "$(get labeled_twice)" "$(get lost)" "$(get left_unlabeled)" "$(get leases_held)" \
    "$(lease_rows "$project" "$db")" "$orph" "$faults_at" "$retry" >>"$work/table"
  [ "$failed" = 0 ] || status=1
  echo "$labels $wall" | awk '{ print $1 / $2 }' >"$work/$name.rate"
}

cp -a "$base" "$work/sqlite"
make_team "$work/team-a" team_a
make_team "$work/team-b" team_b

echo "# labeling (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
run sqlite "$work/sqlite" - 0
run server "$work/team-a" team_a 0
run server-faults "$work/team-b" team_b 1
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | wall s | labels | labels/s | labels/s per annotator | labeled twice | lost | left | leases live / rows after | killed annotator's leases labeled once | killed / restarted after N labels | calls failed disconnected / labels resent / claims / waits |"
echo "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
cat "$work/table"
echo
echo "server / sqlite labels/s: $(paste "$work/server.rate" "$work/sqlite.rate" | awk '{ printf "%.2f", $1 / $2 }')" \
  "(with the faults: $(paste "$work/server-faults.rate" "$work/sqlite.rate" | awk '{ printf "%.2f", $1 / $2 }'))"
[ "$status" = 0 ] && echo "all checks passed" || echo "FAILED: a check above is not 0 (or an annotator failed)"
exit $status
