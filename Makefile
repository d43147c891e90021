# SPDX-License-Identifier: GPL-2.0
# zsgate: the gate for the zsmalloc free-path series. `make help` lists what is here.

KDIR         ?=
BASE         ?=
SERIES       ?=
ARCHS        ?= um x86_64
JOBS         ?= $(shell nproc)
ZSGATE_CACHE ?= $(HOME)/.cache/zsgate
OUT          ?= $(CURDIR)/out
DEBUG        ?=
KCSAN        ?=
export KDIR BASE SERIES ARCHS JOBS ZSGATE_CACHE OUT DEBUG KCSAN

.PHONY: help gate check kunit test-tools selftests kselftest-tar export report deps doctor source clean distclean

help:
	@echo 'zsgate targets:'
	@echo '  gate           the main job: source -> base/patched trees -> KUnit + VM kselftests (ARCHS)'
	@echo '                 -> A/B base vs patched -> report.md/png and the verdict'
	@echo '  check          the project'"'"'s own tests: tooling unit tests, bad input, KUnit and VM'
	@echo '                 kselftests (base + patched), host kselftests; no timing judgement'
	@echo '  kunit          KUnit only, for ARCHS x (base, patched); DEBUG=1 for KASAN/lockdep'
	@echo '  test-tools     unit tests of the ci/ tooling and mypy --strict ci/zsgate (seconds, no kernel build)'
	@echo '  selftests      zram_free/zswap_free kselftests on the running kernel (root)'
	@echo '  selftests-faults  the same, killed at each phase: the host must be put back (root)'
	@echo '  kselftest-tar  a run_kselftest.sh tarball with both collections, into OUT'
	@echo '  export         the tests as a git format-patch series for the kernel (KDIR or linux-source-7.3):'
	@echo '                 KUnit suite + glue + kunitconfig, the two kselftest collections; checkpatch'
	@echo '                 --strict; OUT/export/ (SERIES=<dir|mbox> puts that revision first; SIGNOFF=;'
	@echo '                 KERNELCI=1 adds a CI-branch-only patch for KernelCI'"'"'s kunit jobs)'
	@echo '  mutants        gate each known-bad revision in series/mutants/, fail if one survives (ONLY=name)'
	@echo '  examples       gate each example in series/examples/: good ones must PASS, bad twins FAIL by'
	@echo '                 their catch: test (ONLY=name,name; AB=1 adds the A/B); OUT/examples-<id>/'
	@echo '  report         re-render report.md/report.png of the newest run (OUT/latest)'
	@echo '  deps           install the Debian packages zsgate needs (root)'
	@echo '  doctor         check this machine before a long run: tools, disk, memory, load, archive'
	@echo '  source         fetch/unpack the kernel source and print where it is'
	@echo '  clean          remove out/;  distclean: also the cache (ZSGATE_CACHE)'
	@echo 'variables:'
	@echo '  KDIR=<tree>          gate an existing kernel tree (read-only) instead of Debian'"'"'s linux-source-7.3'
	@echo '  BASE=7.2             Debian'"'"'s linux-source-7.2 as the base (no Part A): gate a Part A revision'
	@echo '  SERIES=<dir|mbox>    revision to gate: quilt dir with a series file, a b4 mbox, or none'
	@echo '                       (default: series/deferred-free, the project'"'"'s Part B)'
	@echo '  ARCHS="um x86_64"    KUnit arches;  JOBS=$(JOBS);  DEBUG=1 debug kernels'
	@echo '  KCSAN=0              no KCSAN run of the race cases (x86_64, patched; on by default)'
	@echo '  ZSGATE_CACHE=$(ZSGATE_CACHE)  OUT=$(OUT)'

gate:
	ci/gate

kunit:
	ZSGATE_NO_VM=1 ci/gate

check:
	ci/check

test-tools:
	python3 -m unittest discover -s ci/tests -t ci
	/usr/bin/python3 -m mypy --strict ci/zsgate

selftests:
	OUT=$(OUT)/selftests-host ci/selftests $(if $(QUICK),--quick)

.PHONY: selftests-faults
selftests-faults:
	OUT=$(OUT)/selftests-faults ci/selftests-faults

kselftest-tar:
	OUT=$(OUT) ci/kselftest-tar

export:
	ci/export --out $(OUT)/export $(if $(filter-out none,$(SERIES)),--series $(SERIES)) \
		$(if $(SIGNOFF),--signoff "$(SIGNOFF)") $(if $(KERNELCI),--kernelci)

report:
	ci/summary $(OUT)/latest; ci/report $(OUT)/latest

deps:
	ci/deps

doctor:
	ci/doctor

.PHONY: mutants
mutants:
	ci/deps
	ONLY="$(ONLY)" ci/mutants

source:
	ci/source

.PHONY: examples
examples:
	ci/deps
	ONLY="$(ONLY)" AB="$(AB)" ci/examples

clean:
	rm -rf $(OUT)

distclean: clean
	rm -rf $(ZSGATE_CACHE)
