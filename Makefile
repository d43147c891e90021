# SPDX-License-Identifier: GPL-2.0
# zsgate: the gate for the zsmalloc free-path series. `make help` (= ./zsgate --help) lists
# what is here.

KDIR         ?=
BASE         ?=
SERIES       ?=
PREV         ?=
BASE72       ?=
ARCHS        ?= um x86_64
JOBS         ?= $(shell nproc)
ZSGATE_CACHE ?= $(HOME)/.cache/zsgate
OUT          ?= $(CURDIR)/out
DEBUG        ?=
KCSAN        ?=
export KDIR BASE SERIES PREV BASE72 ARCHS JOBS ZSGATE_CACHE OUT DEBUG KCSAN

.PHONY: help gate bench check kunit test-tools selftests selftests-faults kselftest-tar export report \
	deps doctor source mutants examples clean distclean

# Each target is one verb of ./zsgate (ci/zsgate/cli.py, docs/cli.md), which reads the
# variables above from the environment; the ones not exported are passed as its options.
help: ; @./zsgate --help
gate: ; ./zsgate gate
bench: ; ./zsgate bench
check: ; ./zsgate check
kunit: ; ./zsgate kunit
test-tools: ; ./zsgate test-tools
selftests: ; ./zsgate selftests $(if $(QUICK),--quick)
selftests-faults: ; ./zsgate selftests-faults
kselftest-tar: ; ./zsgate kselftest-tar
export: ; ./zsgate export $(if $(SIGNOFF),--signoff "$(SIGNOFF)") $(if $(KERNELCI),--kernelci)
report: ; ./zsgate report
deps: ; ./zsgate deps
doctor: ; ./zsgate doctor
source: ; ./zsgate source
mutants: ; ./zsgate mutants $(if $(ONLY),--only "$(ONLY)")
examples: ; ./zsgate examples $(if $(ONLY),--only "$(ONLY)") $(if $(filter-out 0,$(AB)),--ab)

clean:
	rm -rf $(OUT)

distclean: clean
	rm -rf $(ZSGATE_CACHE)
