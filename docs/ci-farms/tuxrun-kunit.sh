#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The KUnit suite of one arch, from a branch made with make export (LINUX: its checkout).
#   ARCH=x86_64 (or arm64, any tuxrun qemu-<arch> device): tuxmake builds the kernel from
#     defconfig + the branch's mm/tests/zsmalloc.kunitconfig, the suite runs at boot
#     (CONFIG_ZSMALLOC_KUNIT_TEST=y, built in) and tuxrun's kunit test parses the KTAP
#     from dmesg; OUTDIR/console.txt is the console, which ci/farm-collect parses with the
#     branch's kunit.py: kunit:<arch>:<rev>=OUTDIR/console.txt
#   ARCH=um: kunit.py itself (what KernelCI's kunit job does in a container), with two
#     CPUs; OUTDIR/kunit.json is kunit.py --json: kunit:um:<rev>=OUTDIR/kunit.json
# tuxrun's qemu-x86_64 and qemu-arm64 devices run with -smp 2 and 4 GB, enough for the
# race cases.
set -eu
LINUX=${LINUX:?set LINUX=<checkout of the exported branch>}
ARCH=${ARCH:-x86_64}
OUTDIR=${OUTDIR:-kunit-$ARCH}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

if [ "$ARCH" = um ]; then
	cd "$LINUX"
	exec ./tools/testing/kunit/kunit.py run --kunitconfig=mm/tests/zsmalloc.kunitconfig \
		--build_dir=.kunit-um --kernel_args ncpus=2 --kernel_args seccomp=on \
		--json="$OUTDIR/kunit.json"
fi

tuxmake --directory "$LINUX" --target-arch "$ARCH" --toolchain gcc \
	--kconfig defconfig --kconfig-add "$LINUX/mm/tests/zsmalloc.kunitconfig" \
	kernel 2>"$OUTDIR/tuxmake.log"
build=$(sed -n 's/^I: build output in //p' "$OUTDIR/tuxmake.log")
case $ARCH in
x86_64) image=$build/bzImage ;;
*) image=$build/Image.gz ;;
esac
tuxrun --device "qemu-$ARCH" --kernel "$image" --tests kunit \
	--log-file-text "$OUTDIR/console.txt" --results "$OUTDIR/results.json"
