# SPDX-License-Identifier: GPL-2.0
"""The host kselftests (ci/selftests, `./zsgate selftests`): build selftests/zram_free and
selftests/zswap_free against the kselftest framework of a kernel tree and run them on the
running kernel.

Usage: ci/selftests [--quick] [--static] [--build-only] [-- run_kselftest.sh args]

  KSRC   kernel source tree (default: ci/source's, i.e. KDIR, else Debian's linux-source-7.3
         in the cache); only read: the framework files are staged into a scratch tree
         (stage_tree(), also zsgate/kselftesttar.py's).
  OUT    results (default out/selftests-host): <collection>.ktap, run.log, figures.txt (the
         "# zsgate:" lines), build.log, build/ (binaries, settings, config).
  --quick       ZSGATE_QUICK=1 (small sizes, 2 rounds).
  --static      link the test binaries statically (make STATIC=1).
  --build-only  build into OUT/build and stop ("built into OUT/build").

The build is `make -C <scratch>/tools/testing/selftests TARGETS="zram_free zswap_free"`, the
run `make ... install` then the installed run_kselftest.sh -c zram_free -c zswap_free, its
output on stdout and in OUT/run.log. The tests change swap, zram and zswap as root; each
restores the host through its own guardian (selftests/zsfree_common/swapfree.h), whatever
happens to this program. The scratch tree goes on every exit (SIGTERM/SIGHUP too).
Python callers: run(Request(...)) (zsgate/vmrun.py builds its static binaries with it,
zsgate/selftestfaults.py its binaries, zsgate/check.py runs the quick run).

Exit: 0 passed (SKIP is fine); 1 the build or a test failed; 2 a usage error, no kernel
source, or no kselftest framework in KSRC.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any, List, Optional, Sequence, Tuple

from . import config, inproc, rundir, treeprep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CI = os.path.join(ROOT, "ci")
SEL = "tools/testing/selftests"
COLLECTIONS = config.COLLECTIONS
# what stage_tree() copies from selftests/ besides the collections
COMMON = "zsfree_common"
PROG = "ci/selftests"


@dataclass(frozen=True)
class Request:
    """One ci/selftests run: @ksrc None means ci/source's tree; @out None means $OUT, else
    out/selftests-host."""
    ksrc: Optional[str] = None
    out: Optional[str] = None
    quick: bool = False
    static: bool = False
    build_only: bool = False
    run_args: Tuple[str, ...] = ()


def find_ksrc(prog: str) -> Optional[str]:
    """$KSRC, else ci/source's tree; None when ci/source failed (its messages are on stderr)."""
    ksrc = os.environ.get("KSRC") or ""
    if ksrc:
        return ksrc
    try:
        return treeprep.find_source(CI)["KSRC"]
    except treeprep.TreeError as e:
        print(f"{prog}: {e}", file=sys.stderr, flush=True)
        return None


def has_framework(ksrc: str) -> bool:
    return os.path.isfile(os.path.join(ksrc, SEL, "kselftest_harness.h"))


def stage_tree(ksrc: str, dst: str) -> str:
    """Copy the selftests framework of @ksrc (its top-level files, kselftest/ and
    scripts/subarch.include) and selftests/{zsfree_common,<collections>} into @dst, as
    `cp -p` / `cp -rp` would; returns <dst>/tools/testing/selftests."""
    sel = os.path.join(dst, SEL)
    os.makedirs(sel, exist_ok=True)
    os.makedirs(os.path.join(dst, "scripts"), exist_ok=True)
    with os.scandir(os.path.join(ksrc, SEL)) as it:
        for e in it:
            if e.is_file(follow_symlinks=False):  # find -maxdepth 1 -type f
                shutil.copy2(e.path, os.path.join(sel, e.name))
    shutil.copytree(os.path.join(ksrc, SEL, "kselftest"), os.path.join(sel, "kselftest"), symlinks=True)
    shutil.copy2(os.path.join(ksrc, "scripts", "subarch.include"), os.path.join(dst, "scripts"))
    for d in (COMMON,) + COLLECTIONS:
        shutil.copytree(os.path.join(ROOT, "selftests", d), os.path.join(sel, d), symlinks=True)
    return sel


def make_command(sel: str, static: bool, *extra: str) -> List[str]:
    return ["make", "-C", sel, f"TARGETS={' '.join(COLLECTIONS)}"] + (["STATIC=1"] if static else []) + list(extra)


def emit(stream: IO[Any], data: bytes) -> None:
    """Bytes a child wrote, to a text stream as they are (its binary buffer when it has one)."""
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        stream.flush()
        buf.write(data)
        buf.flush()
    else:
        stream.write(data.decode("utf-8", errors="replace"))
        stream.flush()


def cat(path: str, stream: IO[Any]) -> None:
    try:
        with open(path, "rb") as f:
            emit(stream, f.read())
    except OSError:
        pass


def tee(argv: Sequence[str], cwd: str, env: Any, path: str, stream: IO[Any]) -> int:
    """argv 2>&1 | tee path: its output to @stream and into @path as it comes; its exit code
    (a signal's 128+N)."""
    with open(path, "wb") as f:
        p = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert p.stdout is not None
        try:
            while True:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                f.write(chunk)
                f.flush()
                emit(stream, chunk)
        except BaseException:
            # a signal: the bash version's pipeline went on without its shell; here the
            # runner is asked to stop (a test it runs dies of SIGPIPE at its next line: its
            # guardian restores the host)
            p.stdout.close()
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            raise
        p.stdout.close()
        rc = p.wait()
    return 128 - rc if rc < 0 else rc


def collection_ktap(run_log: List[str], coll: str) -> List[str]:
    """The KTAP of one collection from run_kselftest.sh's output: the "# "-prefixed lines
    between "# selftests: <coll>: " and the collection's own "(not )ok N selftests: " line,
    the prefix taken off."""
    start = f"# selftests: {coll}: "
    end = re.compile(r"^(not )?ok [0-9]+ selftests: ")
    on = False
    out = []
    for ln in run_log:
        if ln.startswith(start):
            on = True
            continue
        if on and end.match(ln):
            on = False
        if on and ln.startswith("# "):
            out.append(ln[2:])
    return out


def figures(run_log: List[str]) -> List[str]:
    """The lines holding "zsgate: ", a leading run of '#' and ' ' before "zsgate:" made "# "."""
    return [re.sub(r"^[# ]*zsgate:", "# zsgate:", ln, count=1) for ln in run_log if "zsgate: " in ln]


def verdict(run_log: List[str], rc: int, out: str) -> Tuple[int, str]:
    """Exit code and last line: every collection's own KTAP line and every subtest."""
    if rc != 0 or any(re.match(r"^not ok [0-9]+ selftests: ", ln) or re.match(r"^# not ok [0-9]+ ", ln)
                      for ln in run_log):
        return 1, f"{PROG}: FAILED (see {out}/run.log)"
    for c in COLLECTIONS:
        if not any(re.match(rf"^ok [0-9]+ selftests: {c}: {c}", ln) for ln in run_log):
            return 1, f"{PROG}: {c} did not report ok"
    return 0, f"{PROG}: passed; KTAP in {out}"


def write_lines(path: str, lines: List[str]) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("".join(ln + "\n" for ln in lines))


def run(req: Request, stdout: Optional[IO[Any]] = None, stderr: Optional[IO[Any]] = None) -> int:
    """The build, and unless req.build_only the run; what ci/selftests prints goes to
    @stdout and @stderr (default sys's). The exit code (module docstring)."""
    so = sys.stdout if stdout is None else stdout
    se = sys.stderr if stderr is None else stderr
    ksrc = req.ksrc or find_ksrc(PROG)
    if not ksrc:
        return 2
    if not has_framework(ksrc):
        print(f"{PROG}: no kselftest framework in KSRC={ksrc}", file=se, flush=True)
        return 2
    out = os.path.abspath(req.out or os.environ.get("OUT") or "out/selftests-host")
    os.makedirs(out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="zsgate-ksft.", dir="/tmp")
    try:
        return _run(req, ksrc, out, scratch, so, se)
    except OSError as e:  # a copy or a write failed (set -e in the bash version)
        print(f"{PROG}: {e}", file=se, flush=True)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(req: Request, ksrc: str, out: str, scratch: str, so: IO[Any], se: IO[Any]) -> int:
    sel = stage_tree(ksrc, scratch)
    print(f"== build (KSRC={ksrc})", file=so, flush=True)
    build_log = os.path.join(out, "build.log")
    with open(build_log, "wb") as f:
        rc = subprocess.run(make_command(sel, req.static), stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        cat(build_log, so)
        print(f"{PROG}: build failed", file=se, flush=True)
        return 1
    bdir = os.path.join(out, "build")
    shutil.rmtree(bdir, ignore_errors=True)
    os.makedirs(bdir)
    for c in COLLECTIONS:
        if not os.access(os.path.join(sel, c, c), os.X_OK):
            cat(build_log, so)
            print(f"{PROG}: {c} did not build", file=se, flush=True)
            return 1
    for c in COLLECTIONS:
        for fn in (c, "settings", "config"):
            try:
                shutil.copy2(os.path.join(sel, c, fn), bdir)
            except OSError:
                pass
    if req.build_only:
        print(f"built into {bdir}", file=so, flush=True)
        return 0

    print(f"== install + run (quick={int(req.quick)})", file=so, flush=True)
    inst = os.path.join(scratch, "install")
    with open(build_log, "ab") as f:
        rc = subprocess.run(make_command(sel, req.static, "install", f"KSFT_INSTALL_PATH={inst}"),
                            stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        return rc
    env = dict(os.environ, ZSGATE_QUICK=str(int(req.quick)))
    argv = ["./run_kselftest.sh"] + list(req.run_args)
    for c in COLLECTIONS:
        argv += ["-c", c]
    start = int(time.time())
    run_log = rundir.run_file(out, "run", "log")
    rc = 1 if tee(argv, inst, env, run_log, so) != 0 else 0
    line = f"== run time: {int(time.time()) - start} s"
    print(line, file=so, flush=True)
    with open(run_log, "a", encoding="utf-8") as f:
        f.write(line + "\n")

    with open(run_log, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for c in COLLECTIONS:
        write_lines(rundir.run_file(out, c, "ktap"), collection_ktap(lines, c))
    write_lines(os.path.join(out, "figures.txt"), figures(lines))
    code, last = verdict(lines, rc, out)
    print(last, file=so, flush=True)
    return code


def on_term(sig: int, frame: Optional[FrameType]) -> None:
    """SIGTERM/SIGHUP: exit 128+SIG through the finally blocks (the scratch tree goes):
    inproc.Terminated, which an in-process caller (zsgate.check) lets end itself too."""
    inproc.on_term(sig, frame)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, usage=f"{PROG} [--quick] [--static] [--build-only] "
                                 "[-- run_kselftest.sh args]", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="ZSGATE_QUICK=1 (small sizes, 2 rounds)")
    ap.add_argument("--static", action="store_true", help="link the test binaries statically")
    ap.add_argument("--build-only", action="store_true", help="build into OUT/build only")
    return ap


def split_args(argv: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(options, what follows the first "--": run_kselftest.sh's arguments)."""
    a = list(argv)
    if "--" in a:
        i = a.index("--")
        return a[:i], a[i + 1:]
    return a, []


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/selftests ARGS (sys.argv[1:] when None); the exit code (module docstring). SIGTERM
    and SIGHUP end it through its cleanups (the handlers are put back on return), SIGINT
    too (KeyboardInterrupt, not caught: a caller such as zsgate.check stops as well)."""
    opts, rest = split_args(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(opts)
    old = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run(Request(quick=a.quick, static=a.static, build_only=a.build_only, run_args=tuple(rest)))
    finally:
        for s, h in old.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
