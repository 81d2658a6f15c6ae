#!/usr/bin/env bash
# Runs advbench and the PyTorch reference side by side on this machine and prints advd/PyTorch.
# Needs a release build (make build) and `pip install torch` (PYTHON= names the interpreter); CI does not run it.
# THREADS, BATCHES and MODELS choose the rows (default: 1,2 threads; batches 32, 128, 512; every model).
# ADVBENCH names an advbench binary to run instead of building one (a machine without Swift); REPORT_DIR keeps
# both JSON reports in that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-1,2}"
batches="${BATCHES:-32,128,512}"
models="${MODELS:-mlp,mlp-wide,cnn-small,lenet,preact-resnet}"
out="${REPORT_DIR:-$(mktemp -d)}"
advbench="${ADVBENCH:-}"
if [[ -z "$advbench" ]]; then
    swift build -c release --product advbench >/dev/null
    advbench=.build/release/advbench
fi
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$advbench" --threads "$threads" --batch-sizes "$batches" \
    --models "$models" --json "$out/advd.json"
${PYTHON:-python3} bench/torch_reference.py --threads "$threads" --batch-sizes "$batches" --models "$models" --json "$out/torch.json"
${PYTHON:-python3} - "$out/advd.json" "$out/torch.json" <<'PY'
import json, sys
advd, torch = (json.load(open(path)) for path in sys.argv[1:3])
reference = {(r["model"], r["threads"], r["batchSize"], r["mode"]): r for r in torch["rows"]}
print(f"\nadvd vs PyTorch {torch['torch']} ({advd['machine']}, OpenBLAS {advd['blasCore']})")
print("| model | threads | batch | mode | advd samples/s | advd GFLOP/s | PyTorch samples/s | PyTorch GFLOP/s | advd/PyTorch |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
for row in advd["rows"]:
    ref = reference[(row["model"], row["threads"], row["batchSize"], row["mode"])]
    print(f"| {row['model']} | {row['threads']} | {row['batchSize']} | {row['mode']} | {row['samplesPerSecond']:,.0f} | {row['gflops']:.1f} "
          f"| {ref['samplesPerSecond']:,.0f} | {ref['gflops']:.1f} | {row['samplesPerSecond'] / ref['samplesPerSecond']:.2f}x |")
print("\nsgemm 2048^3 GFLOP/s by threads: " + ", ".join(f"{t}: {g:.1f}" for t, g in sorted(advd["sgemmGflops"].items())))
PY
