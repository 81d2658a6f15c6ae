#!/usr/bin/env bash
# The README's main command (`make run`): advd as a service on a local state folder, no root needed.
# Starts `advd serve`, submits the standard-training example with advctl, follows it with a progress
# bar, prints its results and artifacts, then stops the daemon with SIGTERM (as systemd would).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/daemon}
THREADS=${THREADS:-$(nproc)}
MANIFEST=${MANIFEST:-examples/fashion-mlp-standard.yaml}
BIN=.build/release
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
export ADVD_SOCKET="$ROOT/advd.sock"

echo "== advd serve: state $ROOT/state, spool $ROOT/spool, socket $ADVD_SOCKET (log: $ROOT/advd.log)"
"$BIN/advd" serve --config etc/advd/advd.yaml --state-folder "$ROOT/state" --spool "$ROOT/spool" \
    --socket "$ADVD_SOCKET" --socket-group "$(id -gn)" --dataset-root /usr/share/datasets --workers 1 --threads-per-job "$THREADS" 2> "$ROOT/advd.log" &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$BIN/advctl" status > /dev/null 2>&1 && break; sleep 0.1; done

echo "== advctl status"; "$BIN/advctl" status
echo "== advctl submit $MANIFEST"
JOB=$("$BIN/advctl" submit "$MANIFEST" | cut -f1)
sleep 1
echo "== advctl list"; "$BIN/advctl" list --state running,queued
echo "== advctl watch $JOB"; "$BIN/advctl" watch "$JOB"
echo "== advctl results $JOB"; "$BIN/advctl" results "$JOB"
echo "== advctl artifacts $JOB"; "$BIN/advctl" artifacts "$JOB"
echo "== stopping the daemon (SIGTERM); its log: $ROOT/advd.log"
