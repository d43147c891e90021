# SPDX-License-Identifier: GPL-2.0
"""Interleaved rounds of VM boots: the loop the A/B (ci/ab) and the bench (zsgate.benchrun)
share.

Round i boots every kernel once, in the order ab.boot_order() gives (a Williams design), each
boot being one ci/vm run of the latency cases (and, with percall, a second ci/vm run of
percall.free_path under QEMU's instruction-count mode): vmrun.main() in this process
(inproc.call: an exception in it is that boot's exit 1; a SIGTERM ends the boot's VM, then
the rounds). Each boot's "# zsgate:" figures are one
sample per case and kernel: run() returns them as [(label, figures)] in boot order, with a
record per boot (exit, seconds, counts, host_other_cpus: the CPU the rest of the host used
meanwhile, for ab.host_warnings()), the problems and splats the boots reported, and the boots
skipped after a crash (that kernel would crash again; without it the comparison is void).
The statistics are not here: ab.compare() and bench.analyze() read run()'s result.
"""

import json
import os
import resource
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from zsgate import ab, config, inproc, rundir, vmrun
from zsgate.log import log

# The per-call pass (percall.free_path) boots on its own right after each latency boot, in
# QEMU's instruction-count mode: guest time = instructions executed (1 ns each), so the
# per-call figures are exact counts, immune to host load (docs/vm-ab.md, "Per call").
PERCALL_FILTER = "-f percall"
ICOUNT = "shift=0,align=off,sleep=on"


@dataclass(frozen=True)
class Kernel:
    """One kernel of the rounds: its label (boot names, figures), its work tree (ci/kunit's
    stamped build in it), and extra guest environment for its boots only (the limit control's
    ZSGATE_CONTROL=1)."""
    label: str
    tree: str
    env: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    kernels: Tuple[Kernel, ...]
    sub: str                      # where the boots' files go (RUN_DIR/ab/, RUN_DIR/bench/)
    arch: str
    rounds: int
    filter: str
    inner: int
    sizes: str
    quick: bool
    timeout: int
    build_dir: Optional[str] = None
    bin: Optional[str] = None
    percall: bool = False
    percall_only: bool = False
    reanalyze: bool = False       # no boots: read the files already in sub/
    mem: Optional[int] = None
    tools: Tuple[str, ...] = ()   # host tools in the x86_64 initramfs (ci/vm --tool)
    prefix: str = "ab"            # boot names: PREFIX-ARCH-LABEL-rI


@dataclass
class Result:
    runs: List[Dict[str, Any]] = field(default_factory=list)
    rounds: List[Tuple[str, List[Dict[str, Any]]]] = field(default_factory=list)
    round_of: List[int] = field(default_factory=list)   # the round of each rounds[] entry
    problems: List[str] = field(default_factory=list)
    splats: List[Dict[str, str]] = field(default_factory=list)
    skipped: Optional[Dict[str, Any]] = None
    inner: int = 0                # from the files when reanalysing
    quick: bool = True


def host_busy_s() -> float:
    """Busy CPU seconds of the whole host so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children: ci/vm's code runs here, its
    VM is our child (what a boot costs, taken out of the host's busy time)."""
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def boot_name(req: Request, label: str, i: int) -> str:
    return f"{req.prefix}-{req.arch}-{label}-r{i}"


def vm_cmd(req: Request, k: Kernel, name: str) -> List[str]:
    """The ci/vm arguments (vmrun.main's argv) of one latency boot of kernel @k."""
    cmd = ["--tree", k.tree, "--arch", req.arch, "--out", req.sub,
           "--name", name, "--filter", req.filter, "--timeout", str(req.timeout),
           "--env", f"ZSGATE_ROUNDS={req.inner}", "--env", f"ZSGATE_SIZES_MB={req.sizes}"]
    for e in k.env:
        cmd += ["--env", e]
    cmd.append("--quick" if req.quick else "--full")
    if req.mem:
        cmd += ["--mem", str(req.mem)]
    for t in req.tools:
        cmd += ["--tool", t]
    if req.build_dir:
        cmd += ["--build-dir", req.build_dir]
    if req.bin:
        cmd += ["--bin", req.bin]
    return cmd


def build_bin(tree: str) -> Optional[str]:
    """One set of static selftests for every boot, even if selftests/ changes meanwhile
    (vmrun.build_selftests, in this process); None when they did not build (its messages
    are on stderr)."""
    try:
        return vmrun.build_selftests(tree, config.cache_dir(), "ab-build")
    except vmrun.Stop:
        return None


def run(req: Request) -> Result:
    """Every round's boots (or, with reanalyze, their files): see the module docstring."""
    res = Result(inner=req.inner, quick=req.quick)
    by_label = {k.label: k for k in req.kernels}
    labels = [k.label for k in req.kernels]
    t0 = time.time()
    for i in range(1, req.rounds + 1):
        if i > 1 and not req.reanalyze and res.skipped is None:
            per = (time.time() - t0) / (i - 1)
            log(f"round {i - 1}/{req.rounds} done: {time.time() - t0:.0f} s so far, "
                f"about {per * (req.rounds - i + 1) / 60:.0f} min to go")
        for label in ab.boot_order(labels, i):
            name = boot_name(req, label, i)
            if res.skipped is not None:
                res.skipped["boots"].append(name)
                continue
            cmd = vm_cmd(req, by_label[label], name)
            boots = [] if req.percall_only else [(name, cmd, "latency")]
            if req.percall:
                pc = list(cmd)
                pc[pc.index("--filter") + 1] = PERCALL_FILTER
                pc[pc.index("--name") + 1] = name + "-percall"
                boots.append((name + "-percall", pc + ["--icount", ICOUNT], "percall"))
            figs: List[Dict[str, Any]] = []
            meta: Dict[str, Any] = {}
            for bname, bcmd, kind in boots:
                other_cpus = None
                rc: Optional[int]
                if req.reanalyze:
                    rc = None
                    if not os.path.exists(rundir.run_file(req.sub, bname, "vm.json")) and kind == "percall":
                        continue
                else:
                    log(f"round {i}/{req.rounds}: {label}{' (per call, icount)' if kind == 'percall' else ''}")
                    b0, c0, w0 = host_busy_s(), own_cpu_s(), time.time()
                    rc = inproc.call(vmrun.main, bcmd, f"vm {bname}")
                    # what the rest of the host used meanwhile: busy time minus this boot's own
                    # CPU (ci/vm's code in this process, QEMU our child it waited for)
                    other = max(0.0, (host_busy_s() - b0) - (own_cpu_s() - c0))
                    other_cpus = round(other / max(time.time() - w0, 1e-3), 2)
                meta, bfigs = {}, []
                try:
                    with open(rundir.run_file(req.sub, bname, "vm.json")) as f:
                        meta = json.load(f)
                    with open(rundir.run_file(req.sub, bname, "figures.json")) as f:
                        bfigs = json.load(f)
                except (OSError, ValueError):
                    res.problems.append(f"{bname}: no results (exit {rc})")
                if req.reanalyze and kind == "latency" and meta.get("env", {}).get("ZSGATE_ROUNDS"):
                    res.inner = int(meta["env"]["ZSGATE_ROUNDS"])
                    res.quick = meta["env"].get("ZSGATE_QUICK") == "1"
                res.runs.append({"name": bname, "revision": label, "round": i, "exit": rc, "kind": kind,
                                 "status": meta.get("status"), "seconds": meta.get("seconds"),
                                 "counts": meta.get("counts"), "figures": len(bfigs),
                                 "host_other_cpus": other_cpus})
                res.problems += [f"{bname}: {p}" for p in meta.get("problems", [])]
                if meta.get("counts", {}).get("fail"):
                    res.problems.append(f"{bname}: {meta['counts']['fail']} test(s) failed")
                res.splats += [{"run": f"{os.path.basename(req.sub)}/{bname}", "line": s}
                               for s in meta.get("splats", [])]
                # a latency boot's figures never hold percall lines and a percall boot's
                # nothing else: one list per round and kernel
                figs += [f for f in bfigs if (f.get("case") == "percall") == (kind == "percall")]
                if meta.get("crash"):
                    break
            res.rounds.append((label, figs))
            res.round_of.append(i)
            if meta.get("crash") and not req.reanalyze:
                # that kernel would crash again, and without it there is no comparison
                res.skipped = {"after": name, "revision": label, "crash": meta["crash"]["text"], "boots": []}
    sk = res.skipped
    if sk is not None and sk["boots"]:
        n = len(sk["boots"])
        res.problems.append(f"{sk['after']}: the {sk['revision']} kernel {sk['crash']}: the remaining {n} "
                            f"boot(s) skipped, {'both sides' if len(req.kernels) == 2 else 'every kernel'}")
        log(f"{sk['after']}: the {sk['revision']} kernel {sk['crash']}: skipped the "
            f"remaining {n} boot(s) ({', '.join(sk['boots'])})")
    return res
