#!/usr/bin/env bash
# `make sweep-demo`: the README's sweep table. Starts the two-node Slurm cluster of local-cluster.sh
# and advd serve with `executor: slurm`, submits examples/sweep-fashion-methods.yaml (3 training
# methods × 2 seeds), waits for the six jobs and prints `advctl results --group` (kept in
# docs/sweep-fashion-methods.txt). Needs root (the cluster's daemons) and a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=${ROOT:-runs/sweep-demo}
BIN=$PWD/.build/release
rm -rf "$ROOT"
mkdir -p "$ROOT/shared"
ROOT=$(cd "$ROOT" && pwd)
export ADVD_SOCKET="$ROOT/advd.sock"

examples/slurm/local-cluster.sh start "$ROOT/cluster" > /dev/null
cat > "$ROOT/advd.yaml" <<YAML
executor: slurm
slurm:
  shared_folder: $ROOT/shared
  advd_path: $BIN/advd
  slurm_conf: $ROOT/cluster/slurm.conf
  cpus_per_job: 1
  poll_seconds: 2
YAML
"$BIN/advd" serve --config "$ROOT/advd.yaml" --state-folder "$ROOT/state" --spool "$ROOT/spool" \
    --socket "$ADVD_SOCKET" --socket-group "$(id -gn)" --dataset-root /usr/share/datasets 2> "$ROOT/advd.log" &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true; examples/slurm/local-cluster.sh stop "$ROOT/cluster"' EXIT
for _ in $(seq 100); do "$BIN/advctl" status > /dev/null 2>&1 && break; sleep 0.1; done

GROUP=$("$BIN/advctl" submit examples/sweep-fashion-methods.yaml | awk '$1 == "group" {print $2}')
echo "== submitted group $GROUP; waiting for its jobs (log: $ROOT/advd.log)"
SECONDS=0
for job in $("$BIN/advctl" list --group "$GROUP" --json | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)))'); do
    "$BIN/advctl" watch "$job" > /dev/null || true
    echo "job $job done ($SECONDS s)"
done
"$BIN/advctl" list --group "$GROUP"
{ echo "# advctl results --group $GROUP (examples/slurm/sweep-demo.sh, $(date -u +%Y-%m-%d), $SECONDS s wall for the six jobs on $(nproc) cores)"
  "$BIN/advctl" results --group "$GROUP"; } | tee docs/sweep-fashion-methods.txt
