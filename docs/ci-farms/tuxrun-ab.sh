#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The A/B rounds on tuxrun: base and patched kernels booted interleaved (A B B A A B ...,
# as ci/ab does), each boot running the latency cases of both collections with ci/ab's
# filter and knobs; one console per boot, OUTDIR/ab-<rev>-r<round>.txt, and their
# ci/farm-collect specs (ab:x86_64:<base|patched>:<round>=<console>) in OUTDIR/specs
#   BASE, PATCHED: bzImages (x86_64_defconfig + make kselftest-merge) of two branches made
#     with make export: without a series (base) and with SERIES=<the revision> (patched)
#   KSFT: the kselftest tarball (either branch's: the selftests are the same)
#   ROUNDS (4), INNER (2, ZSGATE_ROUNDS in the guest), QUICK (1, ZSGATE_QUICK)
# Boot the rounds on one worker (or identical ones) and nothing else on it meanwhile: the
# rule compares release times, and ci/ab warns when the host was busy.
set -eu
BASE=${BASE:?set BASE=<bzImage of the base branch>}
PATCHED=${PATCHED:?set PATCHED=<bzImage of the patched branch>}
KSFT=${KSFT:-out/kselftest.tar.gz}
ROUNDS=${ROUNDS:-4} INNER=${INNER:-2} QUICK=${QUICK:-1}
OUTDIR=${OUTDIR:-tuxrun-ab}
# ci/ab's DEFAULT_FILTER: munmap by size, concurrent teardown, memory return
FILTER='-f munmap -r teardown.p1_munmap.concurrent -r teardown.p2_munmap.concurrent -r teardown.p3_munmap.concurrent -r teardown.p4_munmap.concurrent -r return_rate.p1_munmap.sampled -r return_rate.p4_munmap.sampled'
mkdir -p "$OUTDIR"

boot() {	# boot <rev> <image> <round>
	tuxrun --device qemu-x86_64 --kernel "$2" \
		--overlay "$KSFT" /opt/zsgate --timeouts commands=60 \
		--log-file-text "$OUTDIR/ab-$1-r$3.txt" \
		-- "mkdir -p /mnt/zs && mount -t tmpfs -o size=3G zs /mnt/zs && cd /opt/zsgate && ZSGATE_QUICK=$QUICK ZSGATE_ROUNDS=$INNER ZSGATE_SWAPDIR=/mnt/zs KSELFTEST_ZRAM_FREE_ARGS='$FILTER' KSELFTEST_ZSWAP_FREE_ARGS='$FILTER' ./run_kselftest.sh -c zram_free -c zswap_free" || true
}
i=1
while [ "$i" -le "$ROUNDS" ]; do
	if [ $((i % 2)) = 1 ]; then
		boot base "$BASE" "$i"; boot patched "$PATCHED" "$i"
	else
		boot patched "$PATCHED" "$i"; boot base "$BASE" "$i"
	fi
	i=$((i + 1))
done
# the ci/farm-collect specs of the boots, one a line
for f in "$OUTDIR"/ab-*-r*.txt; do
	b=${f##*/ab-}; b=${b%.txt}
	echo "ab:x86_64:${b%-r*}:${b##*-r}=$f"
done >"$OUTDIR/specs"
echo "ci/farm-collect ... --ab-env ZSGATE_ROUNDS=$INNER --ab-env ZSGATE_QUICK=$QUICK \$(cat $OUTDIR/specs)"
