#!/usr/bin/env bash
# bench/compare.sh on a borrowed machine that has PyTorch but neither Swift nor Debian's libraries: the
# Intel Xeon (AVX-512) behind this workplace's device tool, the one place issue 11's Intel rows can be
# measured. Device time comes in minutes, so everything is prepared here and the rows run there in one
# call, within a time budget, keeping whatever finished.
#
#   here:   bash bench/device_compare.sh pack
#           → .device-bench/advbench.tar.xz: a release advbench, bench/packed_gemm_probe.c built, and
#             every shared library they load except glibc's (Swift's runtime and Foundation, Debian's
#             OpenBLAS 0.3.21 and its Fortran runtime), xz-compressed to about 26 MB so that it travels
#             under the 64 MiB a device call carries.
#   there:  bash bench/device_compare.sh measure      (a device call carrying ".device-bench", timeout 590 s)
#           → $OUT/compare.txt: the machine (CPU model, family, model, AVX-512 flags, CPUs, PyTorch),
#             bench/compare_rows.py's table of the rows that finished, then the GEMM probe on OpenBLAS's
#             kernel as advbench ran it (would an AVX-512 GEMM of advd's own beat it on two 512-bit FMA
#             units, where the Zen 4 VM's split ones said no? and with the weights packed once, a few
#             percent at most there?), advbench --dense-layers (where advd's
#             dense kernels beat that kernel), per-layer profiles and advbench --conv-layers;
#             $OUT/reports.tar.gz: the rows' JSON.
#
# The rows are compare.sh's: THREADS, BATCHES (default 128 here), MODELS and ROUNDS (default 2 here) choose
# them; BUDGET_SECONDS (default 400) stops the rows, and rows cut off are left out of the table (a row
# needs both sides of one round). Round 1 runs every model before round 2 begins, so a short budget still
# gives one side-by-side pass of every row (one round of batch 128 took 4.6 minutes on the 2-core Zen 4
# VM). The probe and the layer tables add about two minutes there, so the defaults fit one device call
# of ten minutes. The libraries travel because the machine's own may be other versions:
# OpenBLAS 0.3.21 is what Debian users run, and its kernel is what advd's selection picks.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.device-bench

pack() {
    swift build -c release --product advbench >/dev/null
    local staging
    staging=$(mktemp -d)
    mkdir -p "$staging/advbench/bin" "$staging/advbench/lib" "$bundle"
    cp .build/release/advbench "$staging/advbench/bin/"
    "${CC:-clang}" -O3 -DMR=12 -DNV=2 -DKC=256 -DMC=96 bench/packed_gemm_probe.c \
        -o "$staging/advbench/bin/packed_gemm_probe" -lopenblas -lm
    # the device's copy of the tree has no .git, so the bundle says which commit it was built from
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' with uncommitted changes')" \
        >"$staging/advbench/COMMIT"
    # glibc's own libraries stay behind: the machine's glibc (newer) runs binaries built for Debian 12's.
    ldd "$staging"/advbench/bin/* | awk '/=> \// { print $3 }' | sort -u \
        | grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' \
        | xargs -I{} cp -L {} "$staging/advbench/lib/"
    tar -cJf "$bundle/advbench.tar.xz" -C "$staging" advbench
    echo "$bundle/advbench.tar.xz: $(du -h "$bundle/advbench.tar.xz" | cut -f1), advbench of $(cat "$staging/advbench/COMMIT")"
    rm -rf "$staging"
}

# Unpacks the bundle and writes NAME.sh beside it for each bundled program: the program run with the
# bundled libraries (PyTorch keeps the machine's). advd's kernel selection re-executes advbench with the environment it was given, so the
# library path holds for that run too.
unpack() {   # $1: an empty folder
    if command -v xz >/dev/null; then
        tar -xJf "$bundle/advbench.tar.xz" -C "$1"
    else   # an image without xz-utils: Python's lzma reads it
        ${PYTHON:-python3} -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
            "$bundle/advbench.tar.xz" "$1"
    fi
    local program
    for program in advbench packed_gemm_probe; do
        printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$1/advbench/lib" "$1/advbench/bin/$program" \
            >"$1/$program.sh"
        chmod +x "$1/$program.sh"
    done
    "$1/advbench.sh" --help >/dev/null   # fails here, not in every row, if a library is missing
}

describe_machine() {   # $1: the unpacked bundle
    field() { grep -m1 "^$1\s*:" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'; }
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), advbench of commit $(cat "$1/advbench/COMMIT")"
    echo "# CPU: $(field 'model name'), family $(field 'cpu family') model $(field model), $(nproc) CPUs"
    echo "# AVX-512 and AMX flags: $(field flags | tr ' ' '\n' | grep -E '^(avx512|amx)' | sort | tr '\n' ' ')"
    echo "# OPENBLAS_CORETYPE in the environment: ${OPENBLAS_CORETYPE:-none} (compare.sh unsets it for advbench)"
    echo "# PyTorch: $(${PYTHON:-python3} -c 'import torch; b = torch.backends
print(torch.__version__, "MKL" if b.mkl.is_available() else "no MKL", "oneDNN" if b.mkldnn.is_available() else "no oneDNN")')"
    echo "# rows: THREADS=${THREADS:-1,2} BATCHES=${BATCHES:-128} MODELS=${MODELS:-every model}" \
         "ROUNDS=${ROUNDS:-2}, budget ${BUDGET_SECONDS:-400} s"
}

run_rows() {   # $1: the unpacked bundle, $2: the reports' folder, $3: the summary file
    local status=0
    BATCHES="${BATCHES:-128}" ROUNDS="${ROUNDS:-2}" ADVBENCH="$1/advbench.sh" REPORT_DIR="$2" \
        timeout "${BUDGET_SECONDS:-400}" bash bench/compare.sh >/dev/null 2>"$OUT/progress.txt" || status=$?
    if [[ $status -eq 124 ]]; then
        echo "# budget reached; last row begun: $(tail -n1 "$OUT/progress.txt")" | tee -a "$3"
    elif [[ $status -ne 0 ]]; then
        echo "# compare.sh failed with status $status; see progress.txt" | tee -a "$3"
    fi
    ${PYTHON:-python3} bench/compare_rows.py "$2" | tee -a "$3"   # it says so itself when no row finished
}

# The probe on the kernel advbench reported running (advd's choice for this CPU), on one thread.
run_probe() {   # $1: the unpacked bundle, $2: the reports' folder, $3: the summary file
    local core
    core=$(${PYTHON:-python3} -c 'import glob, json, sys
reports = sorted(glob.glob(sys.argv[1] + "/advd-*.json"))
print(json.load(open(reports[0]))["blasCore"] if reports else "")' "$2")
    if [[ -z "$core" ]]; then
        echo "# GEMM probe skipped: no advbench report says which kernel ran" | tee -a "$3"
        return
    fi
    {
        echo
        echo "## bench/packed_gemm_probe.c, one thread, OPENBLAS_CORETYPE=$core: m n k, GFLOP/s"
        OPENBLAS_CORETYPE="$core" "$1/packed_gemm_probe.sh"
        echo "## its kernel alone (packing skipped after the first call; err meaningless)"
        OPENBLAS_CORETYPE="$core" "$1/packed_gemm_probe.sh" kernel-only
        echo "## with the weights packed once (as over an attack's steps; the activations every call)"
        OPENBLAS_CORETYPE="$core" "$1/packed_gemm_probe.sh" weights-packed
    } | tee -a "$3"
}

# Where the time goes there, for a later session to aim at: advd's dense kernels against OpenBLAS on
# every fully connected layer (which batches they take is a rule measured per instruction set, and two
# full-width 512-bit FMA units may move it), per-layer times of a training step of the models whose
# convolutions and GEMMs lagged on the Intel Xeon before (one thread, batch 128), and each convolution's
# passes by every algorithm (ConvolutionAlgorithm's limits were measured on AMD).
run_layer_tables() {   # $1: the unpacked bundle, $3: the summary file
    {
        echo; echo "## advbench --dense-layers"
        "$1/advbench.sh" --dense-layers
        echo; echo "## advbench --profile --threads 1 --batch-sizes 128"
        "$1/advbench.sh" --profile --threads 1 --batch-sizes 128 --models preact-resnet,cnn-small,mlp-wide
        echo; echo "## advbench --conv-layers --batch-sizes 128"
        "$1/advbench.sh" --conv-layers --batch-sizes 128
    } | tee -a "$3"
}

measure() {
    : "${OUT:?measure writes to \$OUT (the device tool sets it)}"
    local unpacked reports
    unpacked=$(mktemp -d)
    reports=$(mktemp -d)
    unpack "$unpacked"
    describe_machine "$unpacked" | tee "$OUT/compare.txt"
    # each part's failure is reported and the next part still runs: device minutes are not spent twice
    local part
    for part in run_rows run_probe run_layer_tables; do
        "$part" "$unpacked" "$reports" "$OUT/compare.txt" || echo "# $part failed with status $?" | tee -a "$OUT/compare.txt"
    done
    tar -czf "$OUT/reports.tar.gz" -C "$reports" .
}

case "${1:-}" in
    pack) pack ;;
    measure) measure ;;
    *) echo "usage: bash bench/device_compare.sh pack|measure" >&2; exit 2 ;;
esac
