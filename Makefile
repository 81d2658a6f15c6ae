# advd — the two commands of the README, and a few more for developers.
#
#   make run    install system packages, build (release), start advd serve on a local state folder,
#               submit the Fashion-MNIST MLP example with advctl, follow it and print its results
#   make test   install system packages, run the whole test suite (release build), verify the unit
#   make install        (after make build) binaries, unit, sysusers/tmpfiles snippets, completions, /etc/advd/advd.yaml
#   make uninstall      removes what install wrote (PURGE=1: the configuration and state too)
#   make screenshots    the README's comparison of four training methods and its pictures (headless Chromium)
#   make sweep-demo     the README's sweep table: 3 methods × 2 seeds on a two-node Slurm cluster (as root)
#   make bench          speed benchmark of the numerics core
#   make bench-compare  the same beside PyTorch (needs `pip install torch`), with ratios

APT_PACKAGES := libopenblas-dev libsqlite3-dev libsystemd-dev zlib1g-dev libpng-dev pkg-config dataset-fashion-mnist systemd
# The tests and `make screenshots` also render pages in a real browser.
BROWSER_PACKAGES := chromium
# The Slurm executor's tests run a two-node cluster (examples/slurm/local-cluster.sh).
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
SWIFT ?= swift
# Use every core for BLAS by default; override with `make run THREADS=1`.
THREADS ?= $(shell nproc)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= /etc/systemd/system
# The highest `systemd-analyze security` exposure the unit may have, in tenths (15: 1.5).
UNIT_EXPOSURE_LIMIT ?= 15

.PHONY: deps browser-deps slurm-deps sweep-demo build run test verify-unit install uninstall screenshots bench bench-compare clean

# Installs the system libraries and the Fashion-MNIST package (as root, or through sudo).
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES)

# The browser the page tests and the screenshots use (headless).
browser-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	command -v chromium > /dev/null || { $$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }

# Slurm's controller, node daemon, client commands and munge, for the Slurm executor's tests (the
# packages' own services are not used: the tests start their own cluster in a temporary folder).
slurm-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	command -v slurmctld > /dev/null && command -v slurmd > /dev/null && command -v sbatch > /dev/null && command -v munged > /dev/null || \
	{ $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SLURM_PACKAGES); }

# One release build, tests included, for `make run`, `make test` and `make install` alike.
build: deps
	$(SWIFT) build -c release --build-tests
	.build/release/advd manual --output .build/release/man

run: build
	THREADS=$(THREADS) examples/serve-demo.sh

# Release build: numerics tests run faster, and the allocation-free claim is about optimised code.
sweep-demo: build slurm-deps
	examples/slurm/sweep-demo.sh

# ADVD_REQUIRE_SLURM: the Slurm tests fail, rather than skip, if the cluster cannot run.
test: build browser-deps slurm-deps
	ADVD_REQUIRE_SLURM=1 $(SWIFT) test -c release --skip-build
	$(MAKE) verify-unit

# systemd-analyze checks the unit as systemd would load it, with ExecStart pointing at the build, and
# rates its sandboxing: the exposure must stay at 1.5 or below (the threshold counts tenths).
verify-unit:
	@dir=$$(mktemp -d) && sed 's|@BINDIR@|$(CURDIR)/.build/release|g' systemd/advd.service.in > $$dir/advd.service && \
	systemd-analyze verify $$dir/advd.service && echo "systemd-analyze verify: advd.service OK" && \
	rating=$$(systemd-analyze security --offline=true --threshold=$(UNIT_EXPOSURE_LIMIT) --no-pager $$dir/advd.service); \
	status=$$?; echo "$$rating" | tail -1; rm -rf $$dir; \
	[ $$status = 0 ] || echo "the unit's exposure is above $(UNIT_EXPOSURE_LIMIT)/10"; exit $$status

# `make install` only installs what `make build` built (no apt-get, no compiler: a package build runs it
# as a plain copy). Every path follows PREFIX and DESTDIR; without DESTDIR it also creates the advd user,
# group and folders and reloads systemd. The configuration file is installed only if none exists.
# `make uninstall` removes exactly what install wrote, keeping /etc/advd/advd.yaml and the state in
# /var/lib/advd unless PURGE=1.
SYSCONFDIR ?= /etc
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
BUILDDIR ?= .build/release
MANDIR ?= $(PREFIX)/share/man/man1
INSTALLED = $(BINDIR)/advd $(BINDIR)/advctl $(MANDIR)/advd.1 $(MANDIR)/advctl.1 $(UNITDIR)/advd.service \
	$(SYSUSERSDIR)/advd.conf $(TMPFILESDIR)/advd.conf \
	$(BASHCOMPDIR)/advd $(BASHCOMPDIR)/advctl $(ZSHCOMPDIR)/_advd $(ZSHCOMPDIR)/_advctl \
	$(FISHCOMPDIR)/advd.fish $(FISHCOMPDIR)/advctl.fish

install:
	@test -x $(BUILDDIR)/advd -a -x $(BUILDDIR)/advctl -a -f $(BUILDDIR)/man/advd.1 || { echo "no build in $(BUILDDIR): run make build first"; exit 1; }
	install -D -m 0755 $(BUILDDIR)/advd $(DESTDIR)$(BINDIR)/advd
	install -D -m 0755 $(BUILDDIR)/advctl $(DESTDIR)$(BINDIR)/advctl
	install -D -m 0644 $(BUILDDIR)/man/advd.1 $(DESTDIR)$(MANDIR)/advd.1
	install -D -m 0644 $(BUILDDIR)/man/advctl.1 $(DESTDIR)$(MANDIR)/advctl.1
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/advd.service.in > $(DESTDIR)$(UNITDIR)/advd.service
	install -D -m 0644 systemd/advd.sysusers $(DESTDIR)$(SYSUSERSDIR)/advd.conf
	install -D -m 0644 systemd/advd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/advd.conf
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	for tool in advd advctl; do \
	$(BUILDDIR)/$$tool --generate-completion-script bash > $(DESTDIR)$(BASHCOMPDIR)/$$tool && \
	$(BUILDDIR)/$$tool --generate-completion-script zsh > $(DESTDIR)$(ZSHCOMPDIR)/_$$tool && \
	$(BUILDDIR)/$$tool --generate-completion-script fish > $(DESTDIR)$(FISHCOMPDIR)/$$tool.fish || exit 1; done
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/advd/advd.yaml ]; then install -D -m 0644 etc/advd/advd.yaml $(DESTDIR)$(SYSCONFDIR)/advd/advd.yaml; \
	else echo "kept the existing $(SYSCONFDIR)/advd/advd.yaml (the shipped one is etc/advd/advd.yaml)"; fi
	@if [ -z "$(DESTDIR)" ]; then \
	systemd-sysusers $(SYSUSERSDIR)/advd.conf && systemd-tmpfiles --create $(TMPFILESDIR)/advd.conf && \
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi && \
	echo "installed: systemctl enable --now advd; add users to group advd to let them submit"; fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@if [ -n "$(PURGE)" ]; then rm -rf $(DESTDIR)$(SYSCONFDIR)/advd $(DESTDIR)/var/lib/advd $(DESTDIR)/var/spool/advd; \
	else echo "kept $(SYSCONFDIR)/advd/advd.yaml and /var/lib/advd (PURGE=1 removes them)"; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

screenshots: build browser-deps
	examples/compare-demo.sh

# Benchmarks let OpenBLAS pick its kernel for this CPU: some machines here pin OPENBLAS_CORETYPE to an
# older one for the sake of old builds, which halves sgemm on AVX-512 CPUs. advbench checks the chosen
# kernel against the naive GEMM before timing it. Tests and CI keep the environment as it is.
bench: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/advbench

bench-compare: build
	bench/compare.sh

clean:
	rm -rf .build runs
