# SPDX-License-Identifier: GPL-2.0
"""The VM step (ci/vm, `./zsgate vm`): boot the kernel kunit.py built in a work tree and run the zsgate kselftests in it.

Usage: ci/vm --tree DIR --arch um|x86_64 --out DIR --name RUN-NAME
             [--cases "zram_free zswap_free"] [--filter "HARNESS ARGS"|--all] [--quick|--full]
             [--env K=V]... [--mem MB] [--timeout S] [--build-dir .kunit-ARCH] [--bin DIR]
             [--reuse] [--unstamped]

The kernel is <tree>/<build-dir>/linux (um) or .../arch/x86/boot/bzImage (x86_64), the
KUnit build made with configs/vm.config + configs/vm-<arch>.config as extra --kunitconfig
(KUnit at boot is skipped here with kunit.enable=0).
  um:     linux mem=<mem>M ncpus=2 seccomp=on rootfstype=hostfs rootflags=/ rw init=<script>
          (the host's / is the guest's root; the guest mounts tmpfs on /tmp and /run and
          writes nowhere else)
  x86_64: qemu-system-x86_64 (TCG) -smp 2 -m <mem> -kernel bzImage -initrd <busybox-static
          initramfs with the static selftests> -append 'console=ttyS0 kunit.enable=0 ...'
The selftests are built static once per selftests/ content with `ci/selftests --static
--build-only` (zsgate.selftests.run, in-process) against the tree's kselftest framework,
cached in $ZSGATE_CACHE/vm/.
--filter passes kselftest_harness arguments to each binary (e.g. "-f munmap -r
teardown.p4_munmap.concurrent"); the default is the correctness set CORRECTNESS below
(ci/ab runs the latency cases), --all runs every test. --env sets ZSGATE_* knobs in the
guest (selftests/zsfree_common/swapfree.h); --quick (the default) is ZSGATE_QUICK=1.
A filter that selects no test in any collection fails the run (the binaries would exit 0).

The image must carry ci/kunit's build stamp for this tree as it is now (ci/zsgate/build.py:
the build succeeded, the tree holds the revision that was built, the .config and the image
are the ones stamped); otherwise nothing boots, NAME.vm.json has status "not run" and says
why in one line (e.g. the last build failed, with its first compiler error), exit 2.
--unstamped boots an image with no stamp at all (a kunit.py build made by hand).

--reuse: the key of the run is a hash of the kernel image, the static selftests, the init
script (cases, filter, guest environment), the VM arguments and this tool's own code; a
clean run (complete, no failure, no splat) kept in $ZSGATE_CACHE/vm/runs/<key> is taken
instead of booting (vm.json gets "reused_from"), otherwise the VM boots and a clean run is
kept there. The gate uses it for base, which a series change does not touch
(ZSGATE_REUSE_BASE=0 boots it anyway).

Bounded failure (ci/zsgate/bounded.py): the guest kernel panics at an oops, a soft lockup,
an RCU stall or a hung task (--no-bounded or ZSGATE_BOUNDED=0: only panic=-1), --timeout
defaults to the work's (the correctness set at quick sizes 300 s, 600 s on a DEBUG or KCSAN
build dir, anything else 1200 s), and a crash or a hang is named by the test that was running
(NAME.vm.json "crash", the first problem line: "crashed in <collection>.<test>: <first splat
line>", "timed out in ...").

Writes OUT/NAME.log (the whole console), NAME.ktap (KTAP, nested tests indented),
NAME.json (kunit.py --json shape, so ci/summary counts it; the results read with kunit.py's
own parser, <tree>/tools/testing/kunit/kunit_parser.py, or zsgate's when the tree has none,
which is logged), NAME.figures.json (the
"# zsgate:" figures), NAME.vm.json (command, times, status, splats).
Exit: 0 all passed/skipped and no splat; 1 a failure, a splat or a hang (timeout);
2 no results (no kernel or not this revision's, build of the selftests failed, no boot).
"""

import argparse
import ctypes
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

from zsgate import bounded, build, config, inproc, rundir, selftests, vm
from zsgate.log import log, set_step
from zsgate.results import find_splats

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
COLLECTIONS = config.COLLECTIONS
# The gate's correctness set (the latency cases run in ci/ab's boots): overflow, integrity,
# the races, buffer allocation failure (zram), one munmap and the 4-process teardowns.
CORRECTNESS = ("-f overflow -f integrity -f race -f nobuffers -r munmap.mb64.latency "
               "-r teardown.p4_munmap.concurrent -r teardown.p4_exit.concurrent")
BUSYBOX = "/bin/busybox" if os.path.exists("/bin/busybox") else "/usr/bin/busybox"
# this step's own code, part of a kept run's key (--reuse)
CODE = (os.path.join(CI, "vm"), os.path.abspath(__file__))


class Stop(Exception):
    """The run ends here: @code is main()'s exit code, the message is on stderr already."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def die(name: str, msg: str, code: int = 2) -> None:
    print(f"zsgate: vm {name}: {msg}", file=sys.stderr, flush=True)
    raise Stop(code)


def refuse(a: argparse.Namespace, kernel: str, bdir: str, why: str) -> None:
    """No boot: NAME.vm.json says why (status "not run"; "build" is the stamp, which
    names the failed build and its first error), exit 2."""
    st = build.read_stamp(bdir)
    meta = {"name": a.name, "arch": a.arch, "tree": a.tree, "kernel": kernel, "status": "not run",
            "refused": why, "build": st, "counts": {"pass": 0, "fail": 0, "skip": 0},
            "problems": [f"not booted: {why}"], "splats": [], "figures": 0}
    with open(rundir.run_file(a.out, a.name, "vm.json"), "w") as f:
        json.dump(meta, f, indent=1)
    die(a.name, f"not booting: {why}")


def selftests_hash(ksrc: str) -> str:
    h = hashlib.sha1()
    h.update(os.path.realpath(ksrc).encode())
    for d in ("zsfree_common",) + COLLECTIONS:
        base = os.path.join(ROOT, "selftests", d)
        for dirpath, _, files in sorted(os.walk(base)):
            for fn in sorted(files):
                p = os.path.join(dirpath, fn)
                h.update(p[len(ROOT):].encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    with open(selftests.__file__, "rb") as f:  # the code that builds them
        h.update(f.read())
    return h.hexdigest()[:12]


def build_selftests(tree: str, cache: str, name: str = "") -> str:
    """Static selftest binaries + <collection>.settings in a cached dir under @cache;
    returns the dir."""
    d = os.path.join(cache, "vm", "ksft-" + selftests_hash(tree))
    if all(os.path.exists(os.path.join(d, c)) for c in COLLECTIONS):
        return d
    os.makedirs(os.path.dirname(d), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ksft-", dir=os.path.dirname(d))
    log(f"building the static selftests into {d}")
    so, se = io.StringIO(), io.StringIO()  # ci/selftests --static --build-only, in-process
    rc = selftests.run(selftests.Request(ksrc=tree, out=tmp, static=True, build_only=True), so, se)
    if rc != 0:
        sys.stderr.write(so.getvalue()[-3000:] + se.getvalue()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
        die(name, "ci/selftests --static --build-only failed")
    for c in COLLECTIONS:
        src = os.path.join(tmp, "build", c)
        if not os.path.exists(src):
            shutil.rmtree(tmp, ignore_errors=True)
            die(name, f"ci/selftests built no {c}")
        shutil.copy2(src, os.path.join(tmp, c))
        st = os.path.join(ROOT, "selftests", c, "settings")
        if os.path.exists(st):
            shutil.copy2(st, os.path.join(tmp, c + ".settings"))
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    return d


def guest_args(bounded_mode: bool) -> List[str]:
    """panic=-1 always (a panic ends the VM: QEMU -no-reboot; UML aborts on a panic), and
    the bounded mode's oops/lockup/stall/hung-task panics (ci/zsgate/bounded.py)."""
    if not bounded_mode:
        return ["panic=-1"]
    return bounded.kernel_args("vm")


def um_command(kernel: str, work: str, mem: int, bounded_mode: bool = True) -> List[str]:
    return [kernel, f"mem={mem}M", "ncpus=2", "seccomp=on", "rootfstype=hostfs", "rootflags=/",
            "rw", f"init={work}/init", "kunit.enable=0", "con=null", "con0=fd:0,fd:1",
            "ssl=null"] + guest_args(bounded_mode) + ["ignore_loglevel"]


def qemu_command(kernel: str, initrd: str, mem: int, bounded_mode: bool = True, icount: str = "") -> List[str]:
    cmd = ["qemu-system-x86_64", "-nodefaults", "-nographic", "-no-reboot", "-accel", "tcg",
           "-m", str(mem), "-smp", "2", "-kernel", kernel, "-initrd", initrd,
           "-serial", "stdio", "-monitor", "none",
           "-append", " ".join(["console=ttyS0", "kunit.enable=0"] + guest_args(bounded_mode)
                               + ["rdinit=/init", "ignore_loglevel"])]
    if os.path.exists("/usr/share/qemu/qboot.rom"):
        cmd += ["-bios", "qboot.rom"]
    if icount:
        # guest time from the instructions executed (1 ns each with shift=0), not the host's
        # clock: the per-call figures of ci/ab's percall boots (docs/vm-ab.md, "Per call")
        cmd += ["-icount", icount]
    return cmd


def die_with_parent() -> None:
    """In the VM's process (preexec): SIGKILL when the process that runs ci/vm's code (ci/vm,
    ci/ab, the gate) ends, even by kill -9."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def parser() -> argparse.ArgumentParser:
    """ci/vm's options; the defaults read the environment when this is called."""
    ap = argparse.ArgumentParser(prog="ci/vm", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--arch", required=True, choices=["um", "x86_64"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--cases", default=" ".join(COLLECTIONS))
    ap.add_argument("--filter", default=os.environ.get("ZSGATE_VM_FILTER", CORRECTNESS),
                    help="kselftest_harness arguments (default: the correctness set, or $ZSGATE_VM_FILTER)")
    ap.add_argument("--all", dest="filter", action="store_const", const="", help="every test")
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("ZSGATE_VM_QUICK", "1") not in ("", "0"),
                    help="ZSGATE_QUICK=1 in the guest (the default; ZSGATE_VM_QUICK=0 or --full: nominal sizes)")
    ap.add_argument("--full", dest="quick", action="store_false")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--tool", action="append", default=[], metavar="NAME",
                    help="x86_64: put the host's NAME and its libraries into the initramfs (e.g. stress-ng "
                         "for the bench's pressure case); UML sees the host's / anyway")
    ap.add_argument("--mem", type=int, default=int(os.environ.get("ZSGATE_VM_MEM", "2048")))
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("ZSGATE_VM_TIMEOUT", "0") or 0),
                    help="seconds for the whole VM run; more is a hang (default: sized to the work, "
                         "see ci/zsgate/bounded.py; or $ZSGATE_VM_TIMEOUT)")
    ap.add_argument("--no-bounded", dest="bounded", action="store_false", default=bounded.enabled(),
                    help="no oops/lockup/stall/hung-task panics (ZSGATE_BOUNDED=0)")
    ap.add_argument("--icount", default="",
                    help="x86_64: QEMU -icount SPEC (e.g. shift=0,align=off,sleep=on): guest time counts "
                         "instructions, for ci/ab's per-call boots")
    ap.add_argument("--build-dir")
    ap.add_argument("--bin", help="prebuilt static selftests (skips the build)")
    ap.add_argument("--reuse", action="store_true",
                    help="take a kept clean run with the same inputs instead of booting")
    ap.add_argument("--unstamped", action="store_true",
                    help="boot an image that has no build stamp at all (your own kunit.py build); "
                         "a stamp that says failed, or another revision, is refused anyway")
    ap.add_argument("--build-only", action="store_true",
                    help="only build (or find) the static selftests; print their directory")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/vm ARGS (sys.argv[1:] when None); the exit code (module docstring). SIGTERM and
    SIGHUP end it through its cleanups, the VM first (inproc.Terminated: its caller ends
    too); the handlers are put back on return. In another program: inproc.call(main, ...)."""
    a = parser().parse_args(None if argv is None else list(argv))
    old = {s: signal.signal(s, inproc.on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run(a)
    except Stop as e:
        return e.code
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(a: argparse.Namespace) -> int:
    set_step(f"vm {a.name}")
    cache = config.cache_dir()
    if a.build_only:
        print(build_selftests(a.tree, cache, a.name), flush=True)
        return 0
    if not a.timeout:
        a.timeout = bounded.vm_timeout(a.filter == CORRECTNESS and a.quick,
                                       (a.build_dir or "").endswith(("-debug", "-kcsan")))
    cases: List[str] = a.cases.split()
    for c in cases:
        if c not in COLLECTIONS:
            die(a.name, f"unknown case {c} (known: {' '.join(COLLECTIONS)})")
    bdir = os.path.join(a.tree, a.build_dir or config.build_dir(a.arch))
    kernel = os.path.join(bdir, "linux" if a.arch == "um" else "arch/x86/boot/bzImage")
    os.makedirs(a.out, exist_ok=True)
    for ext in vm.RUN_FILES:
        p = rundir.run_file(a.out, a.name, ext)
        if os.path.exists(p):
            os.unlink(p)
    # only the image ci/kunit built from this tree's revision (ci/zsgate/build.py's stamp):
    # never the one a previous revision left behind when this revision's build failed
    why = build.check(a.tree, bdir, a.arch, unstamped_ok=a.unstamped)
    if why:
        refuse(a, kernel, bdir, why)
    stamp = build.read_stamp(bdir)
    if stamp is None:
        log(f"warning: booting {kernel} with no build stamp (--unstamped): nothing ties it to {a.tree}")
    # boot a private copy whose hash is the stamped one: a build of this tree by another
    # job after the check cannot swap the image under the boot
    os.makedirs(os.path.join(cache, "vm"), exist_ok=True)
    imgdir = tempfile.mkdtemp(prefix="img-", dir=os.path.join(cache, "vm"))
    try:
        return boot(a, cache, bdir, kernel, stamp, imgdir, cases)
    finally:
        shutil.rmtree(imgdir, ignore_errors=True)


def boot(a: argparse.Namespace, cache: str, bdir: str, built: str, stamp: Optional[Dict[str, Any]],
         imgdir: str, cases: List[str]) -> int:
    """The checked image @built, copied into @imgdir, booted with the selftests."""
    kernel = os.path.join(imgdir, os.path.basename(built))
    shutil.copy2(built, kernel)
    if stamp is not None and build.file_sha256(kernel) != stamp.get("image_sha256"):
        refuse(a, built, bdir, f"{built} changed while it was being copied for the boot "
               "(another build of this tree); not booting it")
    cfg = os.path.join(bdir, ".config")
    if os.path.exists(cfg):
        with open(cfg, encoding="utf-8", errors="replace") as f:
            text = f.read()
        need = ["CONFIG_BLK_DEV_INITRD=y", "CONFIG_DEVTMPFS=y", "CONFIG_SMP=y"]
        if a.arch == "um":
            need = ["CONFIG_HOSTFS=y", "CONFIG_DEVTMPFS=y", "CONFIG_SMP=y"]
        missing = [n for n in need if n not in text.splitlines()]
        if missing:
            die(a.name, f"{kernel} is not a VM kernel (missing {', '.join(missing)}): build it with "
                f"configs/vm.config and configs/vm-{a.arch}.config as extra --kunitconfig")

    bindir = a.bin or build_selftests(a.tree, cache, a.name)
    env = {"ZSGATE_SWAPDIR": "/tmp", "ZSGATE_STATE_DIR": "/run/zsgate"}
    if a.quick:
        env["ZSGATE_QUICK"] = "1"
    if a.arch == "um":
        # docs/known-issues.md: the race cases read pages back wrong in UML on base 7.3
        # too, a different case each run; they run on x86_64 and on the host instead.
        env["ZSGATE_SKIP_RACE"] = "uml-reads-back-wrong-on-base-too"
    for kv in a.env:
        k, _, v = kv.partition("=")
        if not k.startswith("ZSGATE_"):
            die(a.name, f"--env {kv}: only ZSGATE_* knobs")
        env[k] = v

    if a.arch == "um":
        script = vm.init_script(sh="/bin/sh", bb=BUSYBOX, bindir=os.path.realpath(bindir),
                                cases=cases, args=a.filter, env=env, poweroff="poweroff")
    else:
        script = vm.init_script(sh="/bin/busybox sh", bb="/bin/busybox", bindir="/zsgate",
                                cases=cases, args=a.filter, env=env, poweroff="reboot")
    kept = os.path.join(cache, "vm", "runs")
    key = None
    if a.reuse:
        key_files = [kernel] + [os.path.join(bindir, f) for c in cases for f in (c, c + ".settings")
                                if os.path.exists(os.path.join(bindir, f))]
        key_files += [*CODE, vm.__file__, os.path.join(CI, "zsgate", "results.py"), BUSYBOX]
        key_files += [p for p in (os.path.join(a.tree, "tools", "testing", "kunit", "kunit_parser.py"),)
                      if os.path.exists(p)]
        shape = um_command(built, "WORK", a.mem, a.bounded) if a.arch == "um" else \
            qemu_command(built, "WORK/initramfs.cpio", a.mem, a.bounded, a.icount)
        key = vm.reuse_key(key_files, [a.arch, str(a.mem), script, " ".join(shape), " ".join(a.tool)])
        meta = vm.load_run(kept, key, a.out, a.name)
        if meta is not None:
            c = meta["counts"]
            log(f"reused the clean run {meta['reused_from']['name']} of {meta['reused_from']['date']} "
                f"(same kernel image, selftests, arguments; key {key}): {c['pass']} pass, "
                f"{c['fail']} fail, {c['skip']} skip")
            return 0

    os.makedirs(os.path.join(cache, "vm"), exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"run-{a.name}-", dir=os.path.join(cache, "vm"))
    try:
        with open(os.path.join(work, "init"), "w") as f:
            f.write(script)
        os.chmod(os.path.join(work, "init"), 0o755)
        if a.arch == "um":
            cmd = um_command(kernel, work, a.mem, a.bounded)
        else:
            files = {"init": (os.path.join(work, "init"), 0o755),
                     "bin/busybox": (BUSYBOX, 0o755)}
            for c in cases:
                files[f"zsgate/{c}"] = (os.path.join(bindir, c), 0o755)
                if os.path.exists(os.path.join(bindir, c + ".settings")):
                    files[f"zsgate/{c}.settings"] = (os.path.join(bindir, c + ".settings"), 0o644)
            try:
                tools = vm.tool_files(a.tool)
            except ValueError as e:
                die(a.name, f"--tool {e}")
            files.update(tools)
            base_dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc",
                         "sys", "tmp", "run", "zsgate", "var", "var/tmp"]
            initrd = os.path.join(work, "initramfs.cpio")
            vm.write_initramfs(initrd, files,
                               dirs=base_dirs + [d for d in vm.parent_dirs(tools) if d not in base_dirs],
                               symlinks={"bin/sh": "busybox"},
                               chardevs={"dev/console": (5, 1), "dev/null": (1, 3)})
            cmd = qemu_command(kernel, initrd, a.mem, a.bounded, a.icount)

        logp = rundir.run_file(a.out, a.name, "log")
        log(f"booting {a.arch} ({a.mem} MB, 2 CPUs, cases: {' '.join(cases)}"
            f"{', filter: ' + a.filter if a.filter else ''}{', env: ' + ' '.join(f'{k}={v}' for k, v in env.items())})")
        t0 = time.time()
        hang = False
        with open(logp, "wb") as out:
            out.write(("# " + " ".join(shlex.quote(x) for x in cmd) + "\n").encode())
            out.flush()
            penv = dict(os.environ, TMPDIR="/dev/shm")
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=work if a.arch == "um" else "/usr/share/qemu", env=penv,
                                 start_new_session=True, preexec_fn=die_with_parent)
            try:
                rc = p.wait(timeout=a.timeout)
            except subprocess.TimeoutExpired:
                hang = True
                os.killpg(p.pid, 9)
                rc = p.wait()
            except BaseException:
                # ended from outside (SIGTERM/SIGHUP: inproc.Terminated; Ctrl-C): the VM goes
                # now, not when this process exits (PR_SET_PDEATHSIG), which is later when
                # this runs in the gate's or ci/ab's process
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
                p.wait()
                raise
        secs = time.time() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    with open(logp, encoding="utf-8", errors="replace") as f:
        console = f.readlines()
    ktap, complete = vm.guest_ktap(console)
    cols, kparser = vm.results(ktap, a.tree)
    if not kparser.startswith("kunit.py"):
        log(f"guest KTAP read with {kparser}")
    figures = vm.parse_figures(ktap)
    splats = find_splats(console)
    # a hang or a crash: the case that was running and the first splat line
    crash = bounded.classify(console, kind="vm", complete=complete, timed_out=hang, timeout=a.timeout)
    if crash is not None and crash["how"] == "ended":
        crash["text"] += f" (exit {rc})"
    problems = [crash["text"]] if crash is not None else []
    for c in cases:
        if not any(x["name"] == c for x in cols):
            problems.append(f"{c}: never started")
    if vm.selected_nothing(cols, a.filter):
        problems.append(f"the filter '{a.filter}' selected no test in {' '.join(cases)}")
    with open(rundir.run_file(a.out, a.name, "ktap"), "w") as f:
        f.write("\n".join(vm.ktap_v1(ktap)) + "\n")
    with open(rundir.run_file(a.out, a.name, "json"), "w") as f:
        json.dump(vm.kunit_like_json(a.name, cols, problems), f, indent=1)
    with open(rundir.run_file(a.out, a.name, "figures.json"), "w") as f:
        json.dump(figures, f, indent=1)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for col in cols:
        for k in col["cases"]:
            counts[{"PASS": "pass", "SKIP": "skip"}.get(k["status"], "fail")] += 1
        if col["status"] in ("FAIL", "MISSING") and not any(k["status"] == "FAIL" for k in col["cases"]):
            counts["fail"] += 1
    meta = {"name": a.name, "arch": a.arch, "tree": a.tree, "kernel": built, "command": cmd,
            "build": stamp,
            "env": env, "filter": a.filter, "cases": cases, "seconds": round(secs, 1),
            "status": "hang" if hang else ("complete" if complete else "incomplete"),
            "counts": counts, "problems": problems, "splats": splats, "figures": len(figures),
            "timeout": a.timeout, "bounded": a.bounded, "crash": crash}
    with open(rundir.run_file(a.out, a.name, "vm.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log(f"{meta['status']} in {secs:.0f} s: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['skip']} skip, {len(figures)} figures, {len(splats)} splat line(s)")
    for pr in problems:
        log(f"problem: {pr}")
    for s in splats[:5]:
        log(f"splat: {s}")
    if not cols and (hang or not complete):
        return 2
    if problems or splats or counts["fail"]:
        return 1
    if key is not None:
        vm.store_run(kept, key, a.out, a.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
