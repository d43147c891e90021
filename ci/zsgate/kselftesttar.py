# SPDX-License-Identifier: GPL-2.0
"""The kselftest tarball (ci/kselftest-tar, `./zsgate kselftest-tar`): the kernel's
`make gen_tar` holding the zram_free and zswap_free collections, for KernelCI/LKFT-style
runners or a busybox initramfs.

Usage: ci/kselftest-tar [--static] [--check]

  KSRC  kernel source tree (default: ci/source's, i.e. KDIR, else Debian's linux-source-7.3
        in the cache), only read: the kselftest framework is staged into a scratch tree
        (zsgate.selftests.stage_tree).
  OUT   where kselftest.tar.gz goes (default out/kselftest-tar), with build.log (and
        check.log with --check).
  --static  link the test binaries statically (busybox initramfs).
  --check   extract the tarball into a scratch dir and run `./run_kselftest.sh -c zram_free`
            there with ZSGATE_QUICK=1 (root: the test changes swap, zram and zswap, and its
            guardian restores them).
Prints "ci/kselftest-tar: OUT/kselftest.tar.gz (SIZE)" and the tarball's members (indented),
with --check the run's output and "ci/kselftest-tar: extracted tarball runs".
On the target: mkdir ksft && tar -C ksft -xzf kselftest.tar.gz && cd ksft &&
  ./run_kselftest.sh -c zram_free    (or -c zswap_free, or -l to list)

Exit: 0 built (and with --check: zram_free passed); 1 the build failed, a binary is
missing, or the check run failed (run_kselftest.sh's own non-zero exit code when it has
one); 2 a usage error, no kernel source or no kselftest framework in KSRC.
"""

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from typing import List, Optional, Sequence

from . import config, rundir, selftests

PROG = "ci/kselftest-tar"
TARBALL = "kselftest.tar.gz"


def human_size(path: str) -> str:
    """`du -h FILE`: the disk usage, in powers of 1024 rounded up, one decimal below 10."""
    n = os.stat(path).st_blocks * 512
    if n < 1024:
        return str(n)
    v = float(n)
    for unit in "KMGTPE":
        v /= 1024
        if v < 10 and math.ceil(v * 10) / 10 < 10:
            return f"{math.ceil(v * 10) / 10:.1f}{unit}"
        if math.ceil(v) < 1024 or unit == "E":
            return f"{math.ceil(v)}{unit}"
    return str(n)


def members(tarball: str) -> List[str]:
    """`tar -tzf`: the member names as stored (a directory with its trailing /)."""
    with tarfile.open(tarball, "r:gz") as t:
        return [m.name + ("/" if m.isdir() and not m.name.endswith("/") else "") for m in t.getmembers()]


def extract(tarball: str, dst: str) -> None:
    with tarfile.open(tarball, "r:gz") as t:
        if hasattr(tarfile, "fully_trusted_filter"):  # our own tarball: modes, links as they are
            getattr(t, "extractall")(dst, filter="fully_trusted")  # (Python >= 3.11.4)
        else:
            t.extractall(dst)


def run(static: bool = False, check: bool = False) -> int:
    """The tarball into $OUT (default out/kselftest-tar), then the --check run; the exit code."""
    ksrc = selftests.find_ksrc(PROG)
    if not ksrc:
        return 2
    if not selftests.has_framework(ksrc):
        print(f"{PROG}: no kselftest framework in KSRC={ksrc}", file=sys.stderr, flush=True)
        return 2
    out = os.path.abspath(os.environ.get("OUT") or "out/kselftest-tar")
    os.makedirs(out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="zsgate-ksft-tar.", dir="/tmp")
    try:
        return _run(ksrc, out, scratch, static, check)
    except (OSError, tarfile.TarError) as e:  # a copy, a write or the tarball (set -e in bash)
        print(f"{PROG}: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(ksrc: str, out: str, scratch: str, static: bool, check: bool) -> int:
    sel = selftests.stage_tree(ksrc, scratch)
    inst = os.path.join(scratch, "install")
    build_log = os.path.join(out, "build.log")
    with open(build_log, "wb") as f:
        rc = subprocess.run(selftests.make_command(sel, static, f"KSFT_INSTALL_PATH={inst}", "gen_tar"),
                            stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        selftests.cat(build_log, sys.stdout)
        return 1
    for c in config.COLLECTIONS:
        if not os.access(os.path.join(inst, c, c), os.X_OK):
            selftests.cat(build_log, sys.stdout)
            print(f"{PROG}: {c} missing", file=sys.stderr, flush=True)
            return 1
    # gen_tar's own tarball, unchanged (its members sit at ./, as KernelCI expects)
    tarball = os.path.join(out, TARBALL)
    shutil.copyfile(os.path.join(inst, "kselftest-packages", TARBALL), tarball)
    print(f"{PROG}: {tarball} ({human_size(tarball)})")
    for m in members(tarball):
        print(f"  {m}")
    sys.stdout.flush()
    if not check:
        return 0
    x = os.path.join(scratch, "extract")
    os.makedirs(x)
    extract(tarball, x)
    check_log = rundir.run_file(out, "check", "log")
    rc = selftests.tee(["./run_kselftest.sh", "-c", "zram_free"], x, dict(os.environ, ZSGATE_QUICK="1"),
                       check_log, sys.stdout)
    if rc != 0:  # set -e -o pipefail: the run's own exit code
        return rc
    with open(check_log, encoding="utf-8", errors="replace") as f:
        if not any(ln.startswith("ok 1 selftests: zram_free: zram_free") for ln in f.read().splitlines()):
            print(f"{PROG}: check run failed", file=sys.stderr, flush=True)
            return 1
    print(f"{PROG}: extracted tarball runs", flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/kselftest-tar ARGS (sys.argv[1:] when None); the exit code (module docstring).
    SIGTERM and SIGHUP end it through its cleanups (the handlers are put back on return),
    SIGINT too (KeyboardInterrupt, not caught: a caller such as zsgate.check stops as well)."""
    ap = argparse.ArgumentParser(prog=PROG, usage=f"{PROG} [--static] [--check]",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--static", action="store_true", help="link the test binaries statically")
    ap.add_argument("--check", action="store_true", help="extract the tarball and run zram_free from it")
    a = ap.parse_args(sys.argv[1:] if argv is None else list(argv))
    old = {s: signal.signal(s, selftests.on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run(a.static, a.check)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
