# advd — the two commands of the README, and a few more for developers.
#
#   make run    install system packages, build (release), train the MLP on Fashion-MNIST and attack it
#   make test   install system packages, run the whole test suite (release build)
#   make bench          speed benchmark of the numerics core
#   make bench-compare  the same beside PyTorch (needs `pip install torch`), with ratios

APT_PACKAGES := libopenblas-dev libsqlite3-dev libsystemd-dev zlib1g-dev pkg-config dataset-fashion-mnist
SWIFT ?= swift
# Use every core for BLAS by default; override with `make run THREADS=1`.
THREADS ?= $(shell nproc)
RUN_DIR ?= runs/fashion-mlp-standard

.PHONY: deps build run test bench bench-compare clean

# Installs the system libraries and the Fashion-MNIST package (as root, or through sudo).
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES)

build: deps
	$(SWIFT) build -c release

run: build
	.build/release/advd run examples/fashion-mlp-standard.yaml --threads $(THREADS) --out $(RUN_DIR)

# Release build: numerics tests run faster, and the allocation-free claim is about optimised code.
test: deps
	$(SWIFT) test -c release

# Benchmarks let OpenBLAS pick its kernel for this CPU: some machines here pin OPENBLAS_CORETYPE to an
# older one for the sake of old builds, which halves sgemm on AVX-512 CPUs. advbench checks the chosen
# kernel against the naive GEMM before timing it. Tests and CI keep the environment as it is.
bench: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/advbench

bench-compare: build
	bench/compare.sh

clean:
	rm -rf .build runs
