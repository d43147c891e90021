# SPDX-License-Identifier: GPL-2.0
"""The zsgate tests as a `git format-patch` series against a kernel source.

The series adds, on top of the kernel (and, with a revision, on top of its patches):
  1. mm/zsmalloc: the KUnit suite in mm/tests/ with the glue the gate uses
     (treeprep.glue_kconfig/glue_zsmalloc, treeprep.suite_files), the capability header
     written for this tree (treeprep.tree_caps/caps_header) and a kunitconfig;
  2. selftests/zram_free with the code both collections share (zsfree_common);
  3. selftests/zswap_free.
Each adds its files to MAINTAINERS and the collections to the selftests Makefile's
TARGETS. The patches are made by git in a scratch repository holding only the files they
touch (the source is only read), then checked with the source's scripts/checkpatch.pl
--strict.

The capability header is a committed file here, not generated at build time: kbuild (or
KernelCI building the branch) cannot run zsgate's detector, and neither Part A nor Part B
brings a Kconfig symbol that IS_ENABLED() could test, nor can the preprocessor see a
function declaration. It is written from the same detection the gate runs on the tree the
series applies to (after the revision's patches, if any); a later patch that adds one of
these interfaces defines its macro there, and `ci/tree --caps` on the branch must print
the same macros (the check in docs/ci-farms.md).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .series import Series, SeriesError, read_series, touched_files
from .treeprep import (CAPS, CAPS_HEADER, GLUE_EDITS, TreeError, caps_header, find_source, glue_kconfig,
                       glue_zsmalloc, suite_files, tree_caps)

KUNITCONFIG = "mm/tests/zsmalloc.kunitconfig"
SELFTESTS = "tools/testing/selftests"
COMMON = "zsfree_common"
MAINTAINERS_SECTIONS = {
    "zsmalloc": "ZSMALLOC COMPRESSED SLAB MEMORY ALLOCATOR",
    "zram": "ZRAM COMPRESSED RAM BLOCK DEVICE DRVIER",   # sic, as MAINTAINERS spells it
    "zswap": "ZSWAP COMPRESSED SWAP CACHING",
}
PLACEHOLDER_IDENT = "zsgate <zsgate@example.org>"
# the source files the export's own patches change
BASE_FILES = GLUE_EDITS + ["MAINTAINERS", SELFTESTS + "/Makefile"]


class ExportError(Exception):
    """The series cannot be written; the message names the cause."""


@dataclass
class Change:
    subject: str
    body: str
    files: Dict[str, Optional[str]] = field(default_factory=dict)   # path -> content


# ------------------------------------------------------------------ text edits

def add_maintainers(text: str, section: str, pattern: str) -> Tuple[str, bool]:
    """MAINTAINERS with `F:\tpattern` in `section`, in the order of its F: lines.
    Returns (text, whether the section was found)."""
    lines = text.split("\n")
    try:
        start = lines.index(section)
    except ValueError:
        return text, False
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    new = "F:\t" + pattern
    fs = [i for i in range(start + 1, end) if lines[i].startswith("F:")]
    if new in lines[start + 1:end]:
        return text, True
    at = next((i for i in fs if lines[i][2:].strip() > pattern), None)
    if at is None:
        at = (fs[-1] + 1) if fs else end
    lines.insert(at, new)
    return "\n".join(lines), True


def add_target(text: str, target: str) -> str:
    """The selftests Makefile with `TARGETS += target`, after the last target sorting
    before it (the list is meant to be sorted, mostly is)."""
    lines = text.split("\n")
    want = "TARGETS += " + target
    if want in lines:
        return text
    idx = [i for i, ln in enumerate(lines) if re.match(r"^TARGETS \+= \S+$", ln)]
    if not idx:
        raise ExportError(f"{SELFTESTS}/Makefile has no 'TARGETS += ...' lines")
    # the first block only: the list ends at the first non-TARGETS, non-ifeq line after it
    block = [idx[0]]
    for i in idx[1:]:
        if all(re.match(r"^(TARGETS \+= |ifn?eq|endif|else|#|$)", lines[j]) for j in range(block[-1] + 1, i)):
            block.append(i)
    before = [i for i in block if lines[i].split("+= ")[1] < target]
    at = (before[-1] if before else block[0] - 1) + 1
    lines.insert(at, want)
    return "\n".join(lines)


def kunitconfig(config_paths: List[str]) -> str:
    """The kunitconfig of the branch: the options of the gate's kunitconfigs, which must
    agree, under a comment saying how to run it."""
    opts: List[str] = []
    for p in config_paths:
        with open(p, encoding="utf-8") as f:
            o = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        if opts and o != opts:
            raise ExportError(f"{p} and {config_paths[0]} set different options: "
                              "the exported kunitconfig serves every arch")
        opts = o
    head = ["# SPDX-License-Identifier: GPL-2.0",
            "# KUnit tests of zsmalloc (CONFIG_ZSMALLOC_KUNIT_TEST):",
            "#   tools/testing/kunit/kunit.py run --kunitconfig=<this file>",
            "# The race cases want two CPUs:",
            "#   UML:    --kernel_args ncpus=2 --kernel_args seccomp=on",
            "#   x86_64: --arch=x86_64 --qemu_args \"-smp 2\"",
            "# ZRAM=y and ZSWAP=y select the hidden ZSMALLOC=y; zsmalloc's page",
            "# migration (zsmalloc_mops) needs COMPACTION."]
    return "\n".join(head + opts) + "\n"


def caps_intro(source_desc: str) -> List[str]:
    text = ("What this tree's zsmalloc provides to the KUnit tests, one macro per interface; "
            "a case that needs a missing one SKIPs and names it. "
            f"Written for {source_desc} by zsgate's export, with the detection zsgate runs on "
            "each revision it gates; a patch that adds or changes one of these interfaces "
            "updates its line here.")
    return _wrap(text, 70).split("\n")


def caps_summary(det: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(what the tree provides, what it lacks), in words, for the messages."""
    words = {
        "ZSMALLOC_KUNIT_HAVE_PART_A": "the size class encoded in the obj value",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED": "zs_free_deferred()",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH": "zs_free_deferred_flush()",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED_STATS": "zs_free_deferred_stats()",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY": "zs_free_deferred_capacity()",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY_FIELD": "the pool's deferred_capacity",
        "ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS": "struct zs_deferred_ops",
    }
    have = [words.get(m, m) for m, _, _, _ in CAPS if det["caps"][m]]
    lack = [words.get(m, m) for m, _, _, _ in CAPS if not det["caps"][m]]
    return have, lack


def _wrap(text: str, width: int = 72) -> str:
    """Re-wrap each paragraph of `text` (lines starting with space or '-' kept as they are)."""
    out = []
    for para in text.strip("\n").split("\n\n"):
        if any(ln.startswith((" ", "\t", "-")) for ln in para.split("\n")):
            out.append(para)
            continue
        words, line, lines = para.split(), "", []
        for w in words:
            if line and len(line) + 1 + len(w) > width:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}" if line else w
        if line:
            lines.append(line)
        out.append("\n".join(lines))
    return "\n\n".join(out)


# ------------------------------------------------------------------ the three patches

def kunit_change(mini: str, kunit_dir: str, configs: List[str], source_desc: str) -> Tuple[Change, Dict[str, Any]]:
    det = tree_caps(mini)
    files: Dict[str, Optional[str]] = {}
    for n in suite_files(kunit_dir):
        with open(os.path.join(kunit_dir, n), encoding="utf-8") as f:
            files["mm/tests/" + n] = f.read()
    files[CAPS_HEADER] = caps_header(det, caps_intro(source_desc))
    files[KUNITCONFIG] = kunitconfig(configs)
    files["mm/Kconfig"] = glue_kconfig(_read(mini, "mm/Kconfig"))
    files["mm/zsmalloc.c"] = glue_zsmalloc(_read(mini, "mm/zsmalloc.c"))
    have, lack = caps_summary(det)
    body = f"""
Add a KUnit suite for zsmalloc, built into mm/zsmalloc.c with
CONFIG_ZSMALLOC_KUNIT_TEST=y. It checks the obj value layout that lets
zs_free() find the size class without pool->lock (the class index next
to the PFN and the object index, for every class and the extreme PFNs),
that page migration and compaction keep it right, the pool->lock
fallback lookup where the obj has no room for the class bits, and
zs_free() racing migration. Where the kernel provides
zs_free_deferred(), more cases check that every deferred free happens
exactly once, that neighbouring objects stay intact, that frees from
every CPU are all done, and that destroying a pool with frees pending
leaks nothing.

The cases need zsmalloc's static helpers and structures
(location_to_obj(), obj_to_location(), struct size_class, the migration
callbacks), so mm/tests/zsmalloc_kunit.c is included at the end of
mm/zsmalloc.c, as mm/damon does with its tests, rather than exporting a
dozen of them with VISIBLE_IF_KUNIT.

mm/tests/zsmalloc_kunit_caps.h says which of the interfaces the suite
knows this tree provides, one macro each; a case that needs a missing
one SKIPs and names it. The header is a plain file: neither the class
encoding nor zs_free_deferred() has a Kconfig symbol to test with
IS_ENABLED(), and the preprocessor cannot see a function declaration.
A patch that adds one of these interfaces defines its macro there.
This tree provides: {", ".join(have) or "none of them"}.

Every case also fails if the kernel log gets a zsmalloc error, a
WARNING, BUG or lockdep report while it runs: the suite registers a
console that counts such lines per case.

Run with:

  tools/testing/kunit/kunit.py run \\
      --kunitconfig={KUNITCONFIG}

The race cases want two CPUs: add --kernel_args ncpus=2 --kernel_args
seccomp=on on UML, or run --arch=x86_64 --qemu_args "-smp 2".
"""
    return (Change("mm/zsmalloc: add KUnit tests", body, files),
            {"caps": det["caps"], "caps_notes": det["notes"], "have": have, "lack": lack})


def _collection_files(selftests_dir: str, name: str) -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    src = os.path.join(selftests_dir, name)
    if not os.path.isdir(src):
        raise ExportError(f"{src} does not exist")
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, selftests_dir)
            with open(p, encoding="utf-8") as f:
                out[f"{SELFTESTS}/{rel}"] = f.read()
    return out


ZRAM_BODY = """
Add a kselftest collection that measures how fast memory swapped out to
zram is released, and checks that nothing is lost or leaked on the way:
munmap() of 64 to 512 MB of swapped-out memory, one to four processes
released together by munmap() or exit(), the rate at which the pool's
memory and MemAvailable come back, a burst of frees from one CPU, data
integrity after swap-in, rewrite and reuse of freed slots, and frees
racing zram compaction, memory stressors (stress-ng) and discard (fio).

Every test checks that the data read back is intact, that zram's
mm_stat is back at its baseline within 15 seconds, and that the kernel
log got no BUG, WARNING, KASAN, KCSAN, UBSAN or lockdep report. No time
is a pass/fail criterion; times are printed as KTAP comments
("# zsgate: backend=zram case=munmap size_mb=256 ... median_us=...").

The tests hot-add their own zram device and swap on it at the highest
priority. A guardian process started at setup undoes every change
(swapoff, zram reset and hot_remove) when the test ends in any way,
SIGKILL included. What is missing (root, zram, swap, /dev/kmsg,
stress-ng, fio) makes a test SKIP with the reason.

Where the kernel provides zs_free_deferred() with its debugfs counters,
the burst tests also check that every deferred free was accounted and
drained; without them they SKIP naming what is missing.

The scenarios and helpers live in tools/testing/selftests/zsfree_common/
and are shared with the zswap collection added next.
"""

ZSWAP_BODY = """
Add the zswap counterpart of the zram_free collection, running the same
scenarios from tools/testing/selftests/zsfree_common/ with zswap in
front of a swap file (or a loop device over it where the file system
refuses swap files) at the highest priority: munmap() latency, the
release of one to four processes, the return rate, a burst of frees,
data integrity, and frees racing compaction, stress-ng and zswap
writeback (the shrinker on and the pool limit flapping between 0 and 20
percent).

The checks are the same: the data read back is intact, zswap's
pool_total_size and stored_pages are back at the baseline within 15
seconds, and the kernel log got no BUG, WARNING, KASAN, KCSAN, UBSAN or
lockdep report. The guardian restores the zswap parameters it changed
(enabled, max_pool_percent, shrinker_enabled, accept_threshold_percent),
swaps off and removes the file. The swap file goes to /var/tmp, or to
ZSGATE_SWAPDIR.
"""


def selftest_change(mini: str, selftests_dir: str, name: str, subject: str, body: str,
                    with_common: bool, section: str) -> Tuple[Change, List[str]]:
    files: Dict[str, Optional[str]] = {}
    if with_common:
        files.update(_collection_files(selftests_dir, COMMON))
    files.update(_collection_files(selftests_dir, name))
    files[f"{SELFTESTS}/Makefile"] = add_target(_read(mini, f"{SELFTESTS}/Makefile"), name)
    missing: List[str] = []
    text = _read(mini, "MAINTAINERS")
    text, ok = add_maintainers(text, MAINTAINERS_SECTIONS[section], f"{SELFTESTS}/{name}/")
    if not ok:
        missing.append(MAINTAINERS_SECTIONS[section])
    if with_common:
        text, ok = add_maintainers(text, MAINTAINERS_SECTIONS["zsmalloc"], f"{SELFTESTS}/{COMMON}/")
        if not ok:
            missing.append(MAINTAINERS_SECTIONS["zsmalloc"])
    files["MAINTAINERS"] = text
    return Change(subject, body, files), missing


KUNIT_DEFAULT_CONFIG = "tools/testing/kunit/configs/default.config"
KERNELCI_BODY = """
Not for upstream: a commit for a CI branch that carries this series.

KernelCI's kunit jobs run kunit.py config/build/exec with no
--kunitconfig, so they build tools/testing/kunit/configs/default.config.
That config has KUNIT_ALL_TESTS=y but nothing that selects ZSMALLOC, so
ZSMALLOC_KUNIT_TEST stays off there. Add the options of
mm/tests/zsmalloc.kunitconfig that it lacks (not SMP and NR_CPUS, which
would change every default run), so that those jobs run the zsmalloc
suite besides the default tests.
"""


def kernelci_change(mini: str, configs: List[str]) -> Change:
    """The CI-branch-only commit: default.config gets what the suite needs."""
    text = _read(mini, KUNIT_DEFAULT_CONFIG)
    have = {ln.strip() for ln in text.splitlines()}
    want = [o for o in kunitconfig(configs).splitlines()
            if o.startswith("CONFIG_") and not o.startswith(("CONFIG_SMP=", "CONFIG_NR_CPUS=", "CONFIG_KUNIT="))]
    add = [o for o in want if o not in have]
    if not text.endswith("\n"):
        text += "\n"
    text += "".join(o + "\n" for o in add)
    return Change("kunit: configs: enable the zsmalloc tests in default.config", KERNELCI_BODY,
                  {KUNIT_DEFAULT_CONFIG: text})


# ------------------------------------------------------------------ git plumbing

def _read(root: str, path: str) -> str:
    with open(os.path.join(root, path), encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def _git(repo: str, *args: str, env: Optional[Dict[str, str]] = None, inp: Optional[str] = None,
         check: bool = True) -> "subprocess.CompletedProcess[str]":
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, input=inp,
                       env=env, errors="surrogateescape")
    if check and r.returncode != 0:
        raise ExportError(f"git {' '.join(args[:2])}: {(r.stderr or r.stdout).strip()}")
    return r


def _ident_env(ident: str, when: int) -> Dict[str, str]:
    m = re.match(r"^(.*?)\s*<([^>]+)>$", ident)
    if not m:
        raise ExportError(f"identity {ident!r} is not 'Name <mail>'")
    env = dict(os.environ)
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"], env[f"GIT_{who}_EMAIL"] = m.group(1), m.group(2)
        env[f"GIT_{who}_DATE"] = f"{when} +0000"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = env.get("ZSGATE_EXPORT_HOME", "/nonexistent")   # no user config
    return env


def default_ident(root: str) -> Tuple[str, str]:
    """(identity, where it came from): git config of the zsgate repository, else a placeholder."""
    vals = []
    for k in ("user.name", "user.email"):
        r = subprocess.run(["git", "-C", root, "config", k], capture_output=True, text=True)
        vals.append(r.stdout.strip() if r.returncode == 0 else "")
    if all(vals):
        return f"{vals[0]} <{vals[1]}>", "git config"
    return PLACEHOLDER_IDENT, "placeholder (no git config user.name/user.email)"


def _commit(repo: str, change: Change, ident: str, env: Dict[str, str]) -> None:
    for path, text in change.files.items():
        p = os.path.join(repo, path)
        if text is None:
            if os.path.exists(p):
                os.unlink(p)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
    _git(repo, "add", "-A", env=env)
    msg = f"{change.subject}\n\n{_wrap(change.body)}\n\nSigned-off-by: {ident}\n"
    _git(repo, "commit", "-q", "--no-verify", "-F", "-", env=env, inp=msg)


def _apply_series(repo: str, series: Series, env: Dict[str, str]) -> List[Dict[str, Any]]:
    """Commit the revision's patches: `git am` for mail-shaped ones, `git apply` + a commit
    named after the file for plain diffs."""
    out = []
    for p in series.patches:
        r = _git(repo, "am", "-q", "--keep-cr", env=env, inp=p.text, check=False)
        if r.returncode == 0:
            out.append({"name": p.name, "how": "git am"})
            continue
        _git(repo, "am", "--abort", env=env, check=False)
        r = _git(repo, "apply", "--index", "-", env=env, inp=p.text, check=False)
        if r.returncode != 0:
            raise ExportError(f"patch {p.name} of the series does not apply: {(r.stderr or r.stdout).strip()}")
        _git(repo, "commit", "-q", "--no-verify", "-m", p.name, env=env)
        out.append({"name": p.name, "how": "git apply (no mail header)"})
    return out


# ------------------------------------------------------------------ checkpatch

_TOTAL = re.compile(r"^total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?(\d+) lines checked", re.M)


def checkpatch(ksrc: str, patch: str, log: str) -> Dict[str, Any]:
    """scripts/checkpatch.pl --strict of the source on one patch; its output into `log`."""
    script = os.path.join(ksrc, "scripts/checkpatch.pl")
    r = subprocess.run(["perl", script, "--strict", patch],
                       cwd=ksrc, capture_output=True, text=True, errors="replace")
    with open(log, "w", encoding="utf-8") as f:
        f.write(r.stdout + r.stderr)
    m = _TOTAL.search(r.stdout)
    if not m:
        return {"errors": None, "warnings": None, "checks": None, "exit": r.returncode,
                "problem": "no 'total:' line in checkpatch's output"}
    return {"errors": int(m.group(1)), "warnings": int(m.group(2)), "checks": int(m.group(3) or 0),
            "exit": r.returncode}


# ------------------------------------------------------------------ the export

COVER_BODY = """
This series adds the tests zsgate runs on each revision of the zsmalloc
free-path work (the size class in the obj value, and deferred frees),
so that a tree carrying it runs them with the kernel's own tools:

- a KUnit suite built into mm/zsmalloc.c (CONFIG_ZSMALLOC_KUNIT_TEST),
  with mm/tests/zsmalloc.kunitconfig;
- two kselftest collections, zram_free and zswap_free, on their shared
  code in tools/testing/selftests/zsfree_common/, in the selftests
  TARGETS so that gen_tar and run_kselftest.sh pick them up.

{base}

{caps}

To run them:

  tools/testing/kunit/kunit.py run \\
      --kunitconfig={kunitconfig}
  make -C tools/testing/selftests TARGETS="zram_free zswap_free" gen_tar
  # as root on the target, from the tarball:
  ./run_kselftest.sh -c zram_free -c zswap_free

The selftests change the machine's swap setup while they run (their own
zram device or swap file at the highest priority, zswap enabled) and
put it back when they end. ZSGATE_QUICK=1 runs small sizes.

{checkpatch}
"""


def export(ksrc: str, out: str, kunit_dir: str, selftests_dir: str, configs: List[str],
           source_desc: str, series: Optional[Series] = None, ident: Optional[str] = None,
           ident_from: str = "given", when: Optional[int] = None, subject_prefix: str = "PATCH",
           base_commit: Optional[str] = None, run_checkpatch: bool = True, kernelci: bool = False,
           log: Callable[[str], None] = lambda s: None) -> Dict[str, Any]:
    """Write the series into `out` (emptied first). Returns what export.json holds."""
    when = int(when if when is not None else os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    ident = ident or PLACEHOLDER_IDENT
    env = _ident_env(ident, when)
    if run_checkpatch and not os.path.isfile(os.path.join(ksrc, "scripts/checkpatch.pl")):
        raise ExportError(f"{ksrc} has no scripts/checkpatch.pl (--no-checkpatch to skip the check)")
    with tempfile.TemporaryDirectory(prefix="zsgate-export-") as repo:
        seed = list(BASE_FILES) + sorted({path for _, path, _, _ in CAPS}) + \
            ([KUNIT_DEFAULT_CONFIG] if kernelci else [])
        for sp in (series.patches if series else []):
            seed += [f for f in touched_files(sp.text) if f not in seed]
        for f in seed:
            src = os.path.join(ksrc, f)
            if os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(repo, f)), exist_ok=True)
                shutil.copy2(src, os.path.join(repo, f))
            elif f in BASE_FILES or f in GLUE_EDITS:
                raise ExportError(f"{ksrc} has no {f}")
        _git(repo, "init", "-q", env=env)
        _git(repo, "add", "-A", env=env)
        _git(repo, "commit", "-q", "-m", "base: the files the series touches", env=env)
        base = _git(repo, "rev-parse", "HEAD", env=env).stdout.strip()
        applied = _apply_series(repo, series, env) if series else []

        k, caps = kunit_change(repo, kunit_dir, configs, source_desc)
        ms = MAINTAINERS_SECTIONS["zsmalloc"]
        k.files["MAINTAINERS"], found = add_maintainers(_read(repo, "MAINTAINERS"), ms, "mm/tests/zsmalloc*")
        missing = [] if found else [ms]
        _commit(repo, k, ident, env)
        z, miss = selftest_change(repo, selftests_dir, "zram_free",
                                  "selftests/zram_free: add tests of freeing swapped-out memory",
                                  ZRAM_BODY, True, "zram")
        _commit(repo, z, ident, env)
        missing += miss
        w, miss = selftest_change(repo, selftests_dir, "zswap_free",
                                  "selftests/zswap_free: add tests of freeing swapped-out memory",
                                  ZSWAP_BODY, False, "zswap")
        _commit(repo, w, ident, env)
        missing += miss
        if kernelci:
            _commit(repo, kernelci_change(repo, configs), ident, env)

        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        _git(repo, "format-patch", "-q", "--cover-letter", "--no-signature", "--zero-commit",
                 f"--subject-prefix={subject_prefix}", "-o", out, f"{base}..HEAD", env=env)
        names = sorted(n for n in os.listdir(out) if n.endswith(".patch"))
        files_of = {}
        for c in _git(repo, "log", "--reverse", "--format=%H", f"{base}..HEAD", env=env).stdout.split():
            files_of[c] = _git(repo, "show", "--format=", "--name-only", c, env=env).stdout.split()
        commits = list(files_of)

    ours_from = len(applied)   # the series' own patches come first
    patches: List[Dict[str, Any]] = []
    for i, n in enumerate(names[1:]):
        patches.append({"file": n, "ours": i >= ours_from, "files": files_of[commits[i]],
                        "subject": _subject(os.path.join(out, n))})

    cp_dir = os.path.join(out, "checkpatch")
    os.makedirs(cp_dir)
    for p in patches:
        if run_checkpatch:
            p["checkpatch"] = checkpatch(ksrc, os.path.join(out, p["file"]),
                                         os.path.join(cp_dir, p["file"][:-len(".patch")] + ".txt"))
            log(f"checkpatch --strict {p['file']}: {_cp_str(p['checkpatch'])}")
        else:
            p["checkpatch"] = None
    if kernelci:
        patches[-1]["ci_only"] = True
    ours = [p for p in patches if p["ours"]]
    clean = run_checkpatch and all(p["checkpatch"]["errors"] == 0 and p["checkpatch"]["warnings"] == 0
                                   for p in ours)

    base_desc = f"The series applies to {source_desc}"
    if base_commit:
        base_desc += f" (commit {base_commit[:12]})"
    if applied:
        base_desc += (f" with the {len(applied)} patches of the revision under test first"
                      f" ({', '.join(a['name'] for a in applied)})")
    base_desc += "."
    if kernelci:
        base_desc += (f" The last patch ({len(patches)}/{len(patches)}) is for a CI branch only, not for "
                      "posting: it makes KernelCI's kunit jobs, which run kunit.py with the default "
                      "kunitconfig, build and run the suite.")
    have, lack = caps["have"], caps["lack"]
    caps_desc = (f"The KUnit suite's capability header for this tree has: {', '.join(have) or 'nothing'}; "
                 f"the cases that need {', '.join(lack)} SKIP naming it." if lack else
                 f"The KUnit suite's capability header for this tree has: {', '.join(have)}.")
    if run_checkpatch:
        cp_desc = "scripts/checkpatch.pl --strict: " + "; ".join(
            f"{i + ours_from + 1}/{len(patches)}: {_cp_str(p['checkpatch'])}" for i, p in enumerate(ours)) + "."
    else:
        cp_desc = "scripts/checkpatch.pl was not run on this export."
    cover = os.path.join(out, names[0])
    _fill_cover(cover, "mm/zsmalloc, selftests: tests of the zsmalloc free paths",
                _wrap(COVER_BODY.format(base=base_desc, caps=caps_desc, kunitconfig=KUNITCONFIG,
                                        checkpatch=cp_desc)),
                base_commit)
    with open(os.path.join(out, "series.mbox"), "w", encoding="utf-8") as mb:
        for p in patches:
            mb.write(_read(out, p["file"]))
    result = {
        "source": source_desc, "ksrc": ksrc, "base_commit": base_commit,
        "ident": ident, "ident_from": ident_from, "date": when,
        "series": None if series is None else {"kind": series.kind, "path": series.path,
                                                 "id": series.ident, "applied": applied},
        "cover": names[0], "patches": patches, "caps": caps["caps"], "caps_notes": caps["caps_notes"],
        "maintainers_sections_missing": missing,
        "checkpatch_run": run_checkpatch, "checkpatch_clean": clean,
    }
    with open(os.path.join(out, "export.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    return result


def _cp_str(c: Optional[Dict[str, Any]]) -> str:
    if not c:
        return "not run"
    if c["errors"] is None:
        return c.get("problem", "no result")
    return f"{c['errors']} errors, {c['warnings']} warnings, {c['checks']} checks"


def _subject(path: str) -> str:
    text = _read(os.path.dirname(path), os.path.basename(path))
    m = re.search(r"^Subject: (.*(?:\n .*)*)", text, re.M)
    return " ".join(m.group(1).split()) if m else ""


def _fill_cover(path: str, subject: str, blurb: str, base_commit: Optional[str]) -> None:
    text = _read(os.path.dirname(path), os.path.basename(path))
    if "*** SUBJECT HERE ***" not in text or "*** BLURB HERE ***" not in text:
        raise ExportError(f"{path}: git format-patch wrote no cover letter placeholders")
    text = text.replace("*** SUBJECT HERE ***", subject).replace("*** BLURB HERE ***", blurb)
    if base_commit:
        text = text.rstrip("\n") + f"\n\nbase-commit: {base_commit}\n"
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USAGE = """ci/export: the zsgate tests as a git format-patch series against the gated kernel.

Usage: ci/export [--ksrc DIR] [--out DIR] [--series PATH] [--signoff 'Name <mail>']
                 [--subject-prefix 'PATCH'] [--no-checkpatch] [--kernelci]
The kernel is KSRC (--ksrc), else what ci/source says (KDIR=<tree>, else Debian's
linux-source-7.3 from the cache); it is only read. --series puts a revision's patches first
(the capability header is then written for the tree with them). Writes into OUT (default
out/export): 0000-cover-letter.patch, 0001-... (format-patch), series.mbox (the patches
without the cover letter, for `git am`), checkpatch/<patch>.txt, export.json.
--kernelci adds a last patch for a CI branch only (not for posting): kunit's default.config
gets the suite's options, since KernelCI's kunit jobs run kunit.py without --kunitconfig.
Signed-off-by and From: --signoff, else git config user.name/user.email of this
repository, else the placeholder 'zsgate <zsgate@example.org>' (said on stderr).
Exit: 0 written and checkpatch --strict gives 0 errors and 0 warnings on each of the
export's own patches; 1 checkpatch found some (the patches are still written); 2 an error.
"""


def kernel_version(tree: str) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION] of the kernel tree @tree (its Makefile)."""
    v: Dict[str, str] = {}
    with open(os.path.join(tree, "Makefile"), encoding="utf-8") as f:
        for line in f:
            k, _, val = line.partition(" = ")
            if k in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
                v[k] = val.strip()
            if len(v) == 4:
                break
    return f"{v.get('VERSION', '?')}.{v.get('PATCHLEVEL', '?')}.{v.get('SUBLEVEL', '?')}{v.get('EXTRAVERSION', '')}"


def git_head(tree: str) -> Optional[str]:
    """HEAD of a git work tree whose top is `tree` and that has no changes, else None."""
    r = subprocess.run(["git", "-C", tree, "rev-parse", "--show-toplevel", "HEAD"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    top, head = r.stdout.split()
    if os.path.realpath(top) != os.path.realpath(tree):
        return None
    dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return None if dirty else head


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/export ARGS (sys.argv[1:] when None): USAGE."""
    ap = argparse.ArgumentParser(prog="ci/export", description=USAGE.splitlines()[0],
                                 epilog=USAGE.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ksrc")
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "out"), "export"))
    ap.add_argument("--series")
    ap.add_argument("--signoff")
    ap.add_argument("--subject-prefix", default="PATCH")
    ap.add_argument("--no-checkpatch", action="store_true")
    ap.add_argument("--kernelci", action="store_true",
                    help="add a last, CI-branch-only patch enabling the suite in kunit's default.config")
    ap.add_argument("--kunit-dir", default=os.path.join(ROOT, "kunit"))
    ap.add_argument("--selftests-dir", default=os.path.join(ROOT, "selftests"))
    ap.add_argument("--configs", nargs="+", default=[os.path.join(ROOT, "configs", f"zsmalloc-{a}.kunitconfig")
                                                      for a in ("um", "x86_64")])
    a = ap.parse_args(None if argv is None else list(argv))
    try:
        if a.ksrc:
            ksrc, pkg = os.path.realpath(a.ksrc), ""
        else:
            try:
                s = find_source(os.path.join(ROOT, "ci"))
            except TreeError as e:
                raise ExportError(str(e)) from e
            ksrc, pkg = s["KSRC"], s.get("KPKG", "")
        if not os.path.isfile(os.path.join(ksrc, "mm/zsmalloc.c")):
            raise ExportError(f"{ksrc} is not a Linux source tree (no mm/zsmalloc.c)")
        ver = kernel_version(ksrc)
        head = git_head(ksrc)
        desc = f"Debian's {pkg} (Linux {ver})" if pkg else f"Linux {ver}"
        series = None
        if a.series and a.series != "none":
            series = read_series(a.series)
        if a.signoff:
            ident, ident_from = a.signoff, "--signoff"
        else:
            ident, ident_from = default_ident(ROOT)
        print(f"[export] Signed-off-by: {ident} ({ident_from})", file=sys.stderr)
        res = export(ksrc, a.out, a.kunit_dir, a.selftests_dir, a.configs, desc, series=series,
                     ident=ident, ident_from=ident_from, subject_prefix=a.subject_prefix,
                     base_commit=head, run_checkpatch=not a.no_checkpatch, kernelci=a.kernelci,
                     log=lambda m: print("[export] " + m, file=sys.stderr))
    except (ExportError, SeriesError) as e:
        print(f"zsgate: export: {e}", file=sys.stderr)
        return 2
    for m in res["maintainers_sections_missing"]:
        print(f"[export] MAINTAINERS has no section '{m}': its F: line is not added", file=sys.stderr)
    print(f"[export] {a.out}: {res['cover']} + {len(res['patches'])} patches against {desc}"
          f"{' + the series' if series else ''}; git am {a.out}/series.mbox", file=sys.stderr, flush=True)
    for p in res["patches"]:
        print(f"  {p['file']}  {_cp_str(p['checkpatch'])}{'' if p['ours'] else '  (the revision)'}")
    sys.stdout.flush()
    if res["checkpatch_run"] and not res["checkpatch_clean"]:
        print(f"zsgate: export: checkpatch --strict is not clean, see {a.out}/checkpatch/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
