#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run the zsgate kselftests with tuxrun (QEMU, locally or in a tuxrun-based CI).
#   KERNEL: an x86_64 bzImage (path or URL) built from x86_64_defconfig plus the options of
#           selftests/zram_free/config and selftests/zswap_free/config
#   KSFT:   the tarball of `make kselftest-tar` (out/kselftest.tar.gz), path or URL
#   ROOTFS: optional; a rootfs with bash (run_kselftest.sh needs it), when tuxrun's
#           default qemu-x86_64 rootfs lacks it
# tuxrun's kselftest tests (--tests kselftest-<name>, --parameters KSELFTEST=<url>) cover a
# fixed list of in-tree collections; zram_free and zswap_free are not in it. So the tarball
# goes in as an overlay and run_kselftest.sh runs as a custom command (tuxrun's "commands"
# test, whose result is the command's exit status).
set -eu
KERNEL=${KERNEL:?set KERNEL=<bzImage path or URL>}
KSFT=${KSFT:-out/kselftest.tar.gz}
OUTDIR=${OUTDIR:-tuxrun-zsgate}

mkdir -p "$OUTDIR"
set --
[ -z "${ROOTFS:-}" ] || set -- --rootfs "$ROOTFS"
tuxrun --device qemu-x86_64 \
	--kernel "$KERNEL" "$@" \
	--overlay "$KSFT" /opt/zsgate \
	--timeouts commands=40 \
	--log-file-text "$OUTDIR/console.txt" \
	--results "$OUTDIR/results.json" \
	-- 'mkdir -p /mnt/zs && mount -t tmpfs -o size=3G zs /mnt/zs && cd /opt/zsgate && ZSGATE_QUICK=1 ZSGATE_SWAPDIR=/mnt/zs ./run_kselftest.sh -c zram_free -c zswap_free | tee /tmp/zsgate.log && ! grep -Eq "^(# )?not ok " /tmp/zsgate.log'
