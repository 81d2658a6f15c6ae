#!/usr/bin/env bash
# Runs advbench and the PyTorch reference side by side on this machine and prints advd/PyTorch.
# Needs a release build (make build) and `pip install torch` (PYTHON= names the interpreter); CI does not run it.
# THREADS, BATCHES and MODELS choose the rows (default: 1,2 threads; batches 32, 128, 512; every model).
# ROUNDS (default 3) repeats the measurement: each round runs every model, thread count and batch size in
# advd and then at once in PyTorch (four modes each, under a minute apart), so the two sides of a row see
# the machine in the same state; bench/compare_rows.py prints the medians, the range of the rounds'
# paired ratios and whether each row meets the issue's goal. (On a shared VM a row moves by 10-40%
# between minutes; one pass of all advd rows and then all PyTorch rows compared numbers measured a
# quarter of an hour apart, and a pass per model still set the ResNet's two sides minutes apart.)
# ADVBENCH names an advbench binary to run instead of building one (a machine without Swift); REPORT_DIR keeps
# every round's JSON reports in that folder (give an empty one: compare_rows.py merges every report in it).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-1,2}"
batches="${BATCHES:-32,128,512}"
models="${MODELS:-mlp,mlp-wide,cnn-small,lenet,preact-resnet}"
rounds="${ROUNDS:-3}"
out="${REPORT_DIR:-$(mktemp -d)}"
mkdir -p "$out"
advbench="${ADVBENCH:-}"
if [[ -z "$advbench" ]]; then
    swift build -c release --product advbench >/dev/null
    advbench=.build/release/advbench
fi
for round in $(seq 1 "$rounds"); do
    for model in ${models//,/ }; do
        for thread in ${threads//,/ }; do
            for batch in ${batches//,/ }; do
                echo "round $round of $rounds: $model, $thread thread(s), batch $batch" >&2
                row="r$round-$model-t$thread-b$batch"
                env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$advbench" --threads "$thread" --batch-sizes "$batch" \
                    --models "$model" --json "$out/advd-$row.json" >/dev/null
                ${PYTHON:-python3} bench/torch_reference.py --threads "$thread" --batch-sizes "$batch" --models "$model" \
                    --json "$out/torch-$row.json" >/dev/null
            done
        done
    done
done
${PYTHON:-python3} bench/compare_rows.py "$out"
