#!/usr/bin/env bash
# `make screenshots`: the README's comparison and pictures. Starts advd serve on a local state folder,
# submits standard training, PGD-AT, fast AT and TRADES on Fashion-MNIST, waits for all four, prints
# `advctl compare` (kept in docs/compare-fashion.txt), and has headless Chromium render the PGD-AT
# report and the comparison page to docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/compare-demo}
WORKERS=${WORKERS:-2}
BIN=.build/release
MANIFESTS=(examples/fashion-mlp-standard.yaml examples/fashion-mlp-pgd-at.yaml examples/fashion-mlp-fast-at.yaml
           examples/fashion-mlp-trades.yaml)
rm -rf "$ROOT"
mkdir -p "$ROOT" docs/images
ROOT=$(cd "$ROOT" && pwd)
export ADVD_SOCKET="$ROOT/advd.sock"

"$BIN/advd" serve --config etc/advd/advd.yaml --state-folder "$ROOT/state" --spool "$ROOT/spool" \
    --socket "$ADVD_SOCKET" --socket-group "$(id -gn)" --dataset-root /usr/share/datasets --workers "$WORKERS" --threads-per-job 1 2> "$ROOT/advd.log" &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$BIN/advctl" status > /dev/null 2>&1 && break; sleep 0.1; done

mapfile -t JOBS < <("$BIN/advctl" submit "${MANIFESTS[@]}" | cut -f1)
echo "== submitted jobs ${JOBS[*]}; waiting for them (log: $ROOT/advd.log)"
for job in "${JOBS[@]}"; do "$BIN/advctl" watch "$job" > /dev/null; echo "job $job done"; done

"$BIN/advctl" compare "${JOBS[@]}" --html "$ROOT/compare.html" | tee docs/compare-fashion.txt
"$BIN/advctl" compare "${JOBS[@]}" --csv > docs/compare-fashion.csv
"$BIN/advctl" report "${JOBS[1]}" --output "$ROOT/report-pgd-at.html"

# Chromium refuses to run as root without --no-sandbox; the pages have no script, so nothing runs in it.
shoot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$2" --screenshot="$3" "file://$1" 2> /dev/null; }
shoot "$ROOT/report-pgd-at.html" 1200,2600 docs/images/report-pgd-at.png
shoot "$ROOT/compare.html" 1200,1750 docs/images/compare-fashion.png
echo "== wrote docs/compare-fashion.txt, docs/compare-fashion.csv, docs/images/report-pgd-at.png, docs/images/compare-fashion.png"
