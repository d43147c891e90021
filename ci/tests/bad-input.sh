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
echo "1..18"
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

# Hostile series (untrusted text): refused before anything is applied, with the patch name;
# nothing outside the tree is created (the probe file $tmp/outside/x must never appear).
mkdir -p "$tmp/outside"
hostile() {	# hostile NAME PATTERN PATCH-TEXT: a one-patch quilt dir must be refused
	local d=$tmp/h$n
	mkdir -p "$d" && printf '%s\n' 0001-h.patch >"$d/series" && printf -- "$3" >"$d/0001-h.patch"
	expect_fail "$1" "$2" "$root/ci/tree" --ksrc "$fake" --name patched --series "$d" --tree "$tmp/t"
	[ ! -e "$tmp/outside/x" ] || { bad=$((bad + 1)); echo "not ok - $1 created $tmp/outside/x"; rm -f "$tmp/outside/x"; }
}
hostile "absolute path after a/" "patch 0001-h.patch names a path outside the tree: a/$tmp/outside/x" \
	"--- a/$tmp/outside/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
hostile "../ path" "names a path outside the tree: a/../../../..$tmp/outside/x" \
	"--- a/../../../..$tmp/outside/x\n+++ b/../../../..$tmp/outside/x\n@@ -1 +1 @@\n-x\n+y\n"
hostile "file created at an absolute path" "names a path outside the tree: b/$tmp/outside/x" \
	"--- /dev/null\n+++ b/$tmp/outside/x\n@@ -0,0 +1 @@\n+x\n"
hostile "symlink created" "sets file mode 120000" \
	"diff --git a/mm/l b/mm/l\nnew file mode 120000\n--- /dev/null\n+++ b/mm/l\n@@ -0,0 +1 @@\n+$tmp/outside/x\n"
hostile "rename over a file outside the tree" "names a path outside the tree: ../outside/x" \
	"diff --git a/mm/a.c b/mm/a.c\nrename from mm/a.c\nrename to ../outside/x\n--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-one\n+1\n"
hostile "binary diff" "carries a binary diff" \
	"diff --git a/mm/a.c b/mm/a.c\nGIT binary patch\nliteral 3\nKcmZ?d00001\n\n"
hostile "ed script, not a unified diff" "has no unified diff hunk" "1c\n!touch $tmp/outside/x\n.\n"
mkdir -p "$tmp/qo" && printf '%s\n' ../outside.patch >"$tmp/qo/series" &&
	printf -- '--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-one\n+1\n' >"$tmp/outside.patch"
expect_fail "quilt series naming a file outside its directory" "patch ../outside.patch is outside the series directory" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/qo" --tree "$tmp/t"
mbox() {	# mbox FILE SUBJECT...: one message per subject, each with a one-line diff
	local f=$1 s; shift
	: >"$f"
	for s in "$@"; do
		printf 'From x Mon Sep 17 00:00:00 2001\nFrom: a <a@b>\n%s\n\nmsg\n---\n--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-one\n+1\n\n' "$s" >>"$f"
	done
}
mbox "$tmp/mixed.mbox" "Subject: [PATCH v2 1/2] a" "Subject: [PATCH v3 2/2] b"
expect_fail "mbox mixing two revisions" "mixes revisions v2, v3" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/mixed.mbox" --tree "$tmp/t"
printf 'From x Mon Sep 17 00:00:00 2001\nFrom: a <a@b>\nSubject: [PATCH 0/2] cover\n\nno diff here\n' >"$tmp/cover.mbox"
expect_fail "mbox with only a cover letter" "no \[PATCH\] message with a diff" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/cover.mbox" --tree "$tmp/t"
mbox "$tmp/nosubject.mbox" "X-No-Subject: here"
expect_fail "mbox message without a Subject" "no \[PATCH\] message with a diff" \
	"$root/ci/tree" --ksrc "$fake" --name patched --series "$tmp/nosubject.mbox" --tree "$tmp/t"
mkdir -p "$tmp/cache1"
flock "$tmp/cache1/gate.lock" sleep 30 &
lockpid=$!
sleep 0.5
expect_fail "a second gate on one cache" "another gate is using $tmp/cache1" \
	env ZSGATE_CACHE="$tmp/cache1" ZSGATE_GATE_WAIT=0 SERIES=none "$root/ci/gate"
pkill -P "$lockpid" 2>/dev/null; kill "$lockpid" 2>/dev/null; wait "$lockpid" 2>/dev/null
echo "# bad-input: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
