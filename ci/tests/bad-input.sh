#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Bad input to the pipeline: each must be one clear line on stderr and a non-zero exit,
# and must not touch the real cache. Prints "ok - ..." / "not ok - ..." (TAP) per case.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0

# expect_fail NAME PATTERN CMD...: CMD must exit non-zero with PATTERN in its stderr.
expect_fail() {
	local name=$1 pattern=$2 rc; shift 2
	n=$((n + 1))
	"$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ $rc -ne 0 ] && grep -q -- "$pattern" "$tmp/err"; then
		echo "ok $n - $name: $(grep -m1 -- "$pattern" "$tmp/err")"
	else
		bad=$((bad + 1))
		echo "not ok $n - $name (exit $rc, wanted /$pattern/ on stderr): $(tail -n 2 "$tmp/err" | tr '\n' ' ')"
	fi
}

# A tiny stand-in kernel tree (ci/tests/fakesrc.py), never the real cache.
fake=$tmp/fake-kernel
python3 -c "import sys; sys.path.insert(0, '$root/ci'); from tests import fakesrc; fakesrc.make('$fake')"

echo "TAP version 13"
echo "1..6"
expect_fail "unknown arch" "unknown arch 'sparc' in ARCHS" env ARCHS=sparc "$root/ci/gate"
expect_fail "missing KDIR" "KDIR=$tmp/nokernel does not exist" env KDIR="$tmp/nokernel" "$root/ci/gate"
mkdir -p "$tmp/notakernel"
expect_fail "KDIR not a kernel" "is not a Linux source tree" env KDIR="$tmp/notakernel" "$root/ci/source"
echo "notes" >"$tmp/notes.txt"
expect_fail "SERIES neither quilt nor mbox" "neither a quilt directory nor an mbox" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/notes.txt" --tree "$tmp/t"
expect_fail "no network to the archive" "cannot reach the Debian archive" \
	env ZSGATE_CACHE="$tmp/cache" ZSGATE_MIRROR=http://127.0.0.1:9/debian "$root/ci/source"
mkdir -p "$tmp/q" && printf '%s\n' 0001-bad.patch >"$tmp/q/series"
printf -- '--- a/mm/zsmalloc.c\n+++ b/mm/zsmalloc.c\n@@ -1,1 +1,1 @@\n-no such line\n+x\n' >"$tmp/q/0001-bad.patch"
expect_fail "patch that does not apply" "patch 0001-bad.patch does not apply: mm/zsmalloc.c" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/q" --tree "$tmp/t" \
	--kunit-dir /dev/null
echo "# bad-input: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
