#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The kselftests of one backend with tuxrun (QEMU, locally or on a tuxrun-based farm).
#   KERNEL:     an x86_64 bzImage (path or URL) of a branch made with make export, built
#               from x86_64_defconfig + make kselftest-merge (tuxmake: -K make:kselftest-merge)
#   KSFT:       the branch's kselftest tarball (make -C tools/testing/selftests
#               TARGETS="zram_free zswap_free" gen_tar), path or URL
#   COLLECTION: zram_free (default) or zswap_free: one job per backend
#   ROOTFS:     optional; a rootfs with bash (run_kselftest.sh needs it), when tuxrun's
#               default qemu-x86_64 rootfs lacks it
# tuxrun's kselftest tests (--tests kselftest-<name>, --parameters KSELFTEST=<url>) cover a
# fixed list of collections in tuxrun itself; zram_free and zswap_free are not in it, branch
# or not. So the tarball goes in as an overlay and run_kselftest.sh runs as a custom
# command (tuxrun's "commands" test, whose result is the command's exit status).
# OUTDIR/console.txt is what ci/farm-collect reads: vm:x86_64:<rev>=OUTDIR/console.txt
set -eu
KERNEL=${KERNEL:?set KERNEL=<bzImage path or URL>}
KSFT=${KSFT:-out/kselftest.tar.gz}
COLLECTION=${COLLECTION:-zram_free}
OUTDIR=${OUTDIR:-tuxrun-$COLLECTION}

mkdir -p "$OUTDIR"
set --
[ -z "${ROOTFS:-}" ] || set -- --rootfs "$ROOTFS"
tuxrun --device qemu-x86_64 \
	--kernel "$KERNEL" "$@" \
	--overlay "$KSFT" /opt/zsgate \
	--timeouts commands=40 \
	--log-file-text "$OUTDIR/console.txt" \
	--results "$OUTDIR/results.json" \
	-- "mkdir -p /mnt/zs && mount -t tmpfs -o size=3G zs /mnt/zs && cd /opt/zsgate && ZSGATE_QUICK=1 ZSGATE_SWAPDIR=/mnt/zs ./run_kselftest.sh -c $COLLECTION | tee /tmp/zsgate.log && ! grep -Eq '^(# )?not ok ' /tmp/zsgate.log"
