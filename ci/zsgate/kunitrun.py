# SPDX-License-Identifier: GPL-2.0
"""The KUnit step (ci/kunit, `./zsgate kunit --tree`): build and run the zsmalloc KUnit suite with kunit.py in one work tree, one arch.

Usage: ci/kunit --tree DIR --arch um|x86_64 --out DIR --name RUN-NAME [--debug]
                [--kcsan] [--filter GLOB] [--attr-filter EXPR] [--timeout S] [--no-bounded]

kunit.py (<tree>/tools/testing/kunit/kunit.py, the kernel's tool) runs as a child process;
everything around it runs in the caller's process: main(argv) or run(request) (the gate,
ci/mutants and ci/bench call it so). Nothing here calls sys.exit() or installs a signal
handler: a usage error is exit 1, an OSError (a full disk, an unwritable --out) is one line
and exit 1, as the shell step's `die` and `set -e` were; any other exception is its
traceback and exit 1 (the step failed, the caller goes on): python3's for ci/kunit,
inproc.call's for the callers in this process (they all call main through it).

Bounded failure (ci/zsgate/bounded.py; the default, off with --no-bounded or
ZSGATE_BOUNDED=0): the kernel ends at the first oops or soft lockup (oops=panic panic=-1
softlockup_panic=1; QEMU runs with -no-reboot, UML aborts on a panic), and kunit.py's
--timeout (the run phase, not the build) is sized to the suite: ZSGATE_KUNIT_TIMEOUT or
bounded.py's default for plain, --debug or --kcsan. A run that crashed or timed out
prints "crashed in <case>: <first splat line>" / "timed out in <case>" (the suite prints
"# <case>: zsgate: case start" when each case starts). --panic-on-oops: accepted, the
default now. configs/bounded.config (the detectors) is in every build.
--kcsan: x86_64 only, adds configs/zsmalloc-kcsan.config (build dir .kunit-<arch>-kcsan),
         boots with kcsan.skip_watch=400 and zsmalloc.kunit_race_ms=10000 (see kunit_args());
         a "BUG: KCSAN:" report naming zsmalloc/zram/zswap/the suite fails the run (exit 1)
         even if every case passed (any report with ZSGATE_KCSAN_ALL=1); NAME.kcsan.txt.
--filter: kunit.py's filter_glob (suite.case, e.g. 'zsmalloc.test_deferred_*').
--attr-filter: kunit.py's --filter on test attributes (e.g. 'speed=slow': the
         KUNIT_CASE_SLOW cases, which are the suite's race cases).
Environment: JOBS (kunit.py --jobs, default the CPUs), ZSGATE_KUNIT_TIMEOUT, ZSGATE_BOUNDED,
ZSGATE_KCSAN_SKIP_WATCH, ZSGATE_KCSAN_RACE_MS, ZSGATE_KCSAN_ALL, ZSGATE_BUILD_LOCK,
ZSGATE_ACCEL (ci/qemu/qemu-system-x86_64: TCG unless kvm), ZSGATE_ROOT (its configs/).

Writes DIR/RUN-NAME.log (whole console), .ktap (KTAP only), .json (kunit.py --json),
.build.log (kunit.py's own output, and the minute heartbeat of the build+run).
Exit: 0 all passed/skipped, 1 failures (or a usage error), 2 no results
(3: the build failed; its first compiler error is printed and stamped, see below).
The build dir is .kunit-<arch>[-debug] inside the tree, so ccache hits across trees.
Build stamp (ci/zsgate/build.py): under the build lock (ZSGATE_BUILD_LOCK, flock: one
kernel build at a time on the machine) the stamp is removed, kunit.py builds and runs, and
the build dir's .zsgate-build.json then says "ok" with a key of the tree's revision +
.config and the image's hash, or "failed" with the first compiler error (also when another
job prepared the tree meanwhile: the image is of no single revision). ci/vm and ci/ab boot
only a stamped image.
"""

import argparse
import contextlib
import fcntl
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from zsgate import bounded, build, config, results, rundir, vm
from zsgate import log as zlog
from zsgate.inproc import Parser, Stop, die
from zsgate.log import log, set_step

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
KUNIT_PY = os.path.join("tools", "testing", "kunit", "kunit.py")
# the lines of kunit.py's output worth repeating on stderr after a run
SUMMARY_LINE = re.compile(r"^\[[0-9:]+\] (Testing complete|=+ \[(PASSED|FAILED|SKIPPED)\])|ERROR")
PROGRESS_S = 60  # the heartbeat of a running build+run


@dataclass(frozen=True)
class KunitRun:
    """One ci/kunit run (its options; parse() fills the defaults from the environment)."""
    tree: str
    arch: str
    out: str
    name: str
    debug: bool = False
    kcsan: bool = False
    filter: str = ""
    attr_filter: str = ""
    timeout: str = ""  # "": bounded.py's default for the variant
    bounded: bool = True

    @property
    def variant(self) -> str:
        """plain, debug or kcsan: the build dir's suffix and the timeout's row."""
        return "kcsan" if self.kcsan else "debug" if self.debug else "plain"

    @property
    def build_dir(self) -> str:
        """.kunit-<arch>[-debug|-kcsan], relative to the tree."""
        return config.build_dir(self.arch, "" if self.variant == "plain" else self.variant)


def parser(env: Optional[Mapping[str, str]] = None) -> argparse.ArgumentParser:
    """ci/kunit's options; the defaults read @env (os.environ) when this is called."""
    e = os.environ if env is None else env
    ap = Parser(prog="ci/kunit", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--arch", required=True, help="um or x86_64 (configs/zsmalloc-ARCH.kunitconfig)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--debug", action="store_true", help="configs/zsmalloc-debug.config (KASAN, lockdep)")
    ap.add_argument("--kcsan", action="store_true", help="x86_64: configs/zsmalloc-kcsan.config")
    ap.add_argument("--filter", default="", help="kunit.py filter_glob, e.g. 'zsmalloc.test_deferred_*'")
    ap.add_argument("--attr-filter", default="", help="kunit.py --filter on attributes, e.g. speed=slow")
    ap.add_argument("--timeout", default=e.get("ZSGATE_KUNIT_TIMEOUT", ""),
                    help="kunit.py --timeout of the run phase (default $ZSGATE_KUNIT_TIMEOUT, else "
                         "bounded.py's for plain, --debug or --kcsan)")
    ap.add_argument("--panic-on-oops", dest="bounded", action="store_const", const=True,
                    default=bounded.enabled(e), help="the bounded mode (the default)")
    ap.add_argument("--no-bounded", dest="bounded", action="store_const", const=False,
                    help="no oops/lockup panics on the command line (ZSGATE_BOUNDED=0)")
    return ap


def parse(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> KunitRun:
    """The request of ci/kunit ARGV; raises Stop(1) on a usage error (Stop(0) for --help)."""
    a = parser(env).parse_args(list(argv))
    return KunitRun(tree=a.tree, arch=a.arch, out=a.out, name=a.name, debug=a.debug, kcsan=a.kcsan,
                    filter=a.filter, attr_filter=a.attr_filter, timeout=a.timeout, bounded=a.bounded)


def _jobs(env: Mapping[str, str]) -> str:
    if env.get("JOBS"):
        return env["JOBS"]
    try:
        return str(len(os.sched_getaffinity(0)))  # nproc
    except (AttributeError, OSError):
        return str(os.cpu_count() or 1)


def kunit_args(req: KunitRun, root: str = ROOT, env: Optional[Mapping[str, str]] = None) -> Tuple[List[str], str]:
    """(the arguments of `kunit.py run`, the run timeout) for @req, the configs under
    @root/configs. Stops (exit 1) on an unknown arch and on --kcsan with another arch or
    with --debug."""
    e = os.environ if env is None else env
    cfgdir = os.path.join(root, "configs")
    kunitconfig = os.path.join(cfgdir, f"zsmalloc-{req.arch}.kunitconfig")
    if not os.path.isfile(kunitconfig):
        die(f"unknown arch '{req.arch}' (no {kunitconfig})")
    # The same build is the VM kernel of ci/vm (KUnit off at boot there): vm*.config add
    # what a userspace needs (initramfs, devtmpfs, loop, a zram/zswap compressor).
    vmconfig = [f"--kunitconfig={os.path.join(cfgdir, 'vm.config')}"]
    if os.path.isfile(os.path.join(cfgdir, f"vm-{req.arch}.config")):
        vmconfig.append(f"--kunitconfig={os.path.join(cfgdir, f'vm-{req.arch}.config')}")
    timeout = req.timeout or str(bounded.kunit_timeout(req.variant))
    args = [f"--arch={req.arch}", f"--kunitconfig={kunitconfig}", *vmconfig,
            f"--kunitconfig={os.path.join(cfgdir, 'bounded.config')}", f"--jobs={_jobs(e)}",
            f"--timeout={timeout}", "--make_options", "CC=ccache gcc"]
    if req.arch == "um":
        args += ["--kernel_args", "ncpus=2", "--kernel_args", "seccomp=on"]
    else:
        args += ["--qemu_args", "-smp 2"]
    if req.bounded:
        for ka in bounded.kernel_args("kunit"):
            args += ["--kernel_args", ka]
    if req.debug:
        args.append(f"--kunitconfig={os.path.join(cfgdir, 'zsmalloc-debug.config')}")
    if req.kcsan:
        if req.arch != "x86_64":
            die("--kcsan is for x86_64 only (KCSAN needs a compiler-instrumented arch)")
        if req.debug:
            die("--kcsan and --debug exclude each other (KCSAN depends on !KASAN)")
        args.append(f"--kunitconfig={os.path.join(cfgdir, 'zsmalloc-kcsan.config')}")
        # Watch every ~400th access (the fragment's build default; ZSGATE_KCSAN_SKIP_WATCH
        # changes it at boot). Denser watching is slower, not better: at 20 every 20th access
        # stalls 80 us, the boot takes 100 s instead of 10 s, and the race cases make ~15
        # times fewer frees (3,000 instead of 42,000 in test_deferred_enqueue_vs_drain's
        # 3 s), so fewer owner/drainer handoffs happen for KCSAN to watch.
        args += ["--kernel_args", f"kcsan.skip_watch={e.get('ZSGATE_KCSAN_SKIP_WATCH') or '400'}"]
        # Each race case runs 10 s instead of 3 (ZSGATE_KCSAN_RACE_MS): at 3 s the ordering
        # mutant went unreported in about one run of five; the boot is 10 s, the build ~30-50 s.
        args += ["--kernel_args", f"zsmalloc.kunit_race_ms={e.get('ZSGATE_KCSAN_RACE_MS') or '10000'}"]
    args += [f"--build_dir={req.build_dir}", f"--json={rundir.run_file(req.out, req.name, 'json')}"]
    if req.attr_filter:
        args.append(f"--filter={req.attr_filter}")
    if req.filter:
        args.append(req.filter)
    return args, timeout


def child_env(env: Mapping[str, str], root: str) -> Dict[str, str]:
    """kunit.py's environment: the caller's (as the gate exported it), without PYTHONPATH
    (zsgate's is no business of kunit.py), ci/qemu first on PATH (TCG unless ZSGATE_ACCEL=kvm:
    see ci/qemu/qemu-system-x86_64)."""
    out = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    out.setdefault("ZSGATE_ROOT", root)
    out["ZSGATE_CACHE"] = config.cache_dir(env)
    out.setdefault("ZSGATE_T0", str(int(time.time())))
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    out["PATH"] = os.path.join(CI, "qemu") + ":" + env.get("PATH", "/usr/bin:/bin")
    return out


def _no_core() -> None:
    """In kunit.py's process (ulimit -c 0): a panicking UML aborts (its panic notifier); no
    core file of the guest's memory."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@contextlib.contextmanager
def build_lock(path: str) -> Iterator[int]:
    """flock @path (waits): the fd, held until the block ends (and by the children it is
    passed to, as flock(1)'s command inherited it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _tail(path: str, n: int) -> None:
    """tail -n N PATH >&2"""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return
    sys.stderr.write("".join(lines[-n:]))
    sys.stderr.flush()


def with_progress(what: str, t0: float, cmd: List[str], blog: IO[str], **kw: Any) -> int:
    """The shell steps' run_with_progress without its last line: run @cmd, a line "WHAT: still
    running (N min)" each minute since @t0 into @blog, as the shell step's went (its stderr
    was the build log). A Python exception while it waits (KeyboardInterrupt) ends the
    child first."""
    blog.flush()
    p = subprocess.Popen(cmd, stdout=blog, stderr=subprocess.STDOUT, **kw)
    minutes = 0
    try:
        while True:
            try:
                rc = p.wait(timeout=max(0.1, t0 + PROGRESS_S * (minutes + 1) - time.time()))
                break
            except subprocess.TimeoutExpired:
                minutes = int((time.time() - t0) // PROGRESS_S)
                with contextlib.redirect_stderr(blog):
                    log(f"{what}: still running ({minutes} min)")
    except BaseException:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        raise
    return rc


def build_and_run(req: KunitRun, tree: str, args: List[str], blog_path: str, env: Mapping[str, str],
                  root: str) -> int:
    """Under the build lock: drop the stamp, kunit.py run, stamp from the build log (what
    `python3 -m zsgate.build wrap` did); if another job prepares this tree meanwhile, the
    image belongs to no single revision and is not stamped ok. The build log gets kunit.py's
    output, the heartbeat, "build failed: ..." when the stamp says so, and the line "build+run
    NAME: done in S s (exit RC)" last, as in the shell step. kunit.py's exit code."""
    bdir = os.path.join(tree, req.build_dir)
    what = f"build+run {req.name}"
    t0 = time.time()
    with open(blog_path, "w", encoding="utf-8") as blog:
        with build_lock(config.build_lock(env)) as fd:
            before = build.tree_key(tree)
            build.invalidate(bdir)
            rc = with_progress(what, t0, ["python3", KUNIT_PY, "run", *args], blog, cwd=tree,
                               env=child_env(env, root), pass_fds=(fd,), preexec_fn=_no_core)
            blog.flush()
            with open(blog_path, encoding="utf-8", errors="replace") as f:
                why = results.build_failure(f.readlines(), os.path.realpath(tree))
            if why is None:
                doc = build.stamp_ok(tree, bdir, req.arch, req.name, before)
            else:
                doc = build.stamp_failed(tree, bdir, req.arch, req.name, why, blog_path)
            if doc["status"] != "ok":
                blog.write(f"build failed: {doc['error']}\n")
        with contextlib.redirect_stderr(blog):
            log(f"{what}: done in {int(time.time() - t0)} s (exit {rc})")
    return rc


def ktap_extract(tree: str, console: str, ktap: str) -> None:
    """NAME.ktap: the KTAP lines of the console, extracted in this process by kunit.py's own
    parser of the tree (vm.console_ktap()). A tree without a usable kunit_parser.py, or a
    parser that fails, leaves it empty or cut where the parser stopped, and one line on
    stderr (the step goes on: .json is kunit.py's)."""
    kp = vm.kunit_parser_of(tree)
    try:
        if kp is None:
            open(ktap, "w").close()
            log(f"{ktap}: left empty: no usable tools/testing/kunit/kunit_parser.py in {tree}")
        else:
            vm.console_ktap(kp, console, ktap)
    except Exception as e:  # the tree's parser: any error, the run's results are kunit.py's
        log(f"{ktap}: kunit_parser.extract_tap_lines of {console} failed: {e!r}")


def run(req: KunitRun, env: Optional[Mapping[str, str]] = None) -> int:
    """ci/kunit of @req in this process: the exit code (module docstring). Raises Stop."""
    e = os.environ if env is None else env
    set_step(f"kunit {req.name}")
    if not os.access(os.path.join(req.tree, KUNIT_PY), os.X_OK):
        die(f"{req.tree} has no {KUNIT_PY}")
    tree = os.path.abspath(req.tree)
    root = e.get("ZSGATE_ROOT") or ROOT
    args, timeout = kunit_args(req, root, e)
    out, name = req.out, req.name

    def f(ext: rundir.RunExt) -> str:
        return rundir.run_file(out, name, ext)

    os.makedirs(out, exist_ok=True)
    for ext in ("json", "log", "ktap", "build.log"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f(ext))  # type: ignore[arg-type]
    log(f"kunit.py run --arch={req.arch} in {tree}/{req.build_dir}, run timeout {timeout} s"
        f"{'' if req.bounded else ', not bounded'} (waits for the build lock)")
    test_log = os.path.join(tree, req.build_dir, "test.log")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(test_log)
    rc = build_and_run(req, tree, args, f("build.log"), e, root)
    st = build.read_stamp(os.path.join(tree, req.build_dir))
    if st is None or st.get("status") != "ok":
        _tail(f("build.log"), 20)
        log(f"build failed: {(st or {}).get('error', 'no build stamp after the build')} (see {f('build.log')})")
        return 3
    if os.path.isfile(test_log):
        shutil.copyfile(test_log, f("log"))
    if os.path.isfile(f("log")):
        ktap_extract(tree, f("log"), f("ktap"))
    with open(f("build.log"), encoding="utf-8", errors="replace") as bl:
        said = [ln for ln in bl if SUMMARY_LINE.search(ln)]
    sys.stderr.write("".join(said[-3:]))
    sys.stderr.flush()
    crash = bounded.kunit_crash(out, name)
    if crash is not None:
        log(f"{crash['text']} (see {f('log')})")
    if not os.path.isfile(f("json")) or os.path.getsize(f("json")) == 0:
        _tail(f("build.log"), 20)
        log(f"no results (build or boot failed): see {f('build.log')}")
        return 2
    # KCSAN: a report that names zsmalloc, its callers or the suite's code fails the run,
    # unless it is a known race of base zsmalloc (zsgate.results: KCSAN_BASE_*); other reports
    # (core kernel, strict mode) are listed in NAME.kcsan.txt but do not fail it, unless
    # ZSGATE_KCSAN_ALL=1. ci/summary judges the verdict with the same code.
    if req.kcsan and os.path.isfile(f("log")):
        with open(f("log"), encoding="utf-8", errors="replace") as cl:
            text, failed = results.kcsan_text(cl.readlines(), e.get("ZSGATE_KCSAN_ALL", "0") == "1")
        with open(f("kcsan.txt"), "w", encoding="utf-8") as kt:
            kt.write("".join(ln + "\n" for ln in text))
        if failed:
            sys.stderr.write("".join(ln + "\n" for ln in text[:6]))
            log(f"KCSAN reported data races in zsmalloc/zram/zswap: run failed (see {f('log')})")
            return 1
        if any(re.search(r"KCSAN reports: [1-9]", ln) for ln in text):
            log(f"KCSAN: report(s) outside zsmalloc or known base races, not failing (see {f('kcsan.txt')})")
    return 0 if rc == 0 else 1


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """ci/kunit ARGV (sys.argv[1:] when None): its exit code. No sys.exit, no signal handler.
    In another program through inproc.call(main, ARGV, "kunit"), which puts the log's step
    back and makes any other exception than those below its traceback and exit 1."""
    set_step("kunit")
    try:
        return run(parse(sys.argv[1:] if argv is None else argv, env), env)
    except Stop as e:
        return e.code
    except OSError as e:  # set -e of the shell step: the one line, exit 1
        print(f"zsgate: {zlog.step()}: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
