# SPDX-License-Identifier: GPL-2.0
"""Make a work tree: a hard-link copy of the source plus the series and the KUnit glue.

The source (Debian's cache or a user's KDIR) is never written. The work tree shares the
source's files through hard links; every file zsgate changes is replaced by a new file
(write to a temporary name, then rename), which breaks the link. Patches are applied in a
scratch "mini tree" holding only the files they touch, so a patch that does not apply leaves
the work tree as it was. Only files whose content changes are rewritten, so make rebuilds
just what a revision really changed.
"""

import argparse
import filecmp
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import config, kernelsrc
from .series import Series, SeriesError, read_series, touched_files

STATE = ".zsgate-state.json"

KCONFIG_GLUE = """
config ZSMALLOC_KUNIT_TEST
	bool "KUnit tests for zsmalloc" if !KUNIT_ALL_TESTS
	depends on ZSMALLOC=y && KUNIT=y
	default KUNIT_ALL_TESTS
	help
	  Builds white-box KUnit tests into zsmalloc: the encoding of the
	  size class in the obj value, the class lookup across page
	  migration and compaction, and, where the kernel provides it,
	  zs_free_deferred().

	  For more information on KUnit and unit tests in general, please
	  refer to the KUnit documentation in Documentation/dev-tools/kunit/.

	  If unsure, say N.
"""

ZSMALLOC_GLUE = """
#ifdef CONFIG_ZSMALLOC_KUNIT_TEST
#include "tests/zsmalloc_kunit.c"
#endif
"""

# The zsmalloc menu of mm/Kconfig: the option goes last in it; appended to the file where
# a kernel has no such menu.
_ZSMALLOC_MENU = re.compile(r'^menu "Zsmalloc allocator options"\n(?:(?!menu\b|endmenu\b).*\n)*?(?=^endmenu\b)', re.M)


def glue_kconfig(text: str) -> str:
    """mm/Kconfig with the ZSMALLOC_KUNIT_TEST option (unchanged when a tree that carries
    the suite, e.g. a branch of make export, has it already)."""
    if re.search(r"^config ZSMALLOC_KUNIT_TEST$", text, re.M):
        return text
    m = _ZSMALLOC_MENU.search(text)
    if not m:
        return text + KCONFIG_GLUE
    return text[:m.end()] + KCONFIG_GLUE.lstrip("\n") + "\n" + text[m.end():]


def glue_zsmalloc(text: str) -> str:
    """mm/zsmalloc.c with the suite included at its end (unless it is already)."""
    if '#include "tests/zsmalloc_kunit.c"' in text:
        return text
    return text + ZSMALLOC_GLUE


# mm/ files the glue changes; the suite's own files (kunit/zsmalloc_kunit*.{c,h}) and the
# generated capability header go to mm/tests/.
GLUE_EDITS = ["mm/Kconfig", "mm/zsmalloc.c"]
CAPS_HEADER = "mm/tests/zsmalloc_kunit_caps.h"

# What a revision declares, each detected on its own. A KUnit case relies only on what is
# detected and SKIPs naming the rest. A name that appears with another prototype than the
# one the suite calls is not detected: its line goes into the header's notes, so the
# suite never fails to compile because a revision's API differs.
#   (macro, file, what must match, the name whose appearance alone makes a note)
CAPS = [
    ("ZSMALLOC_KUNIT_HAVE_PART_A", "mm/zsmalloc.c",
     r"#define\s+ZS_OBJ_CLASS_BITS\b[\s\S]*\blocation_to_obj\s*\(\s*struct\s+zpdesc\s*\*\s*\w+\s*,"
     r"\s*unsigned\s+int\s+\w+\s*,\s*unsigned\s+int\s+class_idx\s*\)", "ZS_OBJ_CLASS_BITS"),
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED", "include/linux/zsmalloc.h",
     r"\bvoid\s+zs_free_deferred\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*,\s*unsigned\s+long\s*\w*\s*\)\s*;",
     "zs_free_deferred"),
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH", "include/linux/zsmalloc.h",
     r"\bvoid\s+zs_free_deferred_flush\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*\)\s*;",
     "zs_free_deferred_flush"),
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED_STATS", "include/linux/zsmalloc.h",
     r"\bstruct\s+zs_deferred_stats\s*\{(?=[^}]*\benqueued\b)(?=[^}]*\bdrained\b)(?=[^}]*\boverflow\b)"
     r"(?=[^}]*\bbatches\b)(?=[^}]*\bpending\b)[^}]*\}[\s\S]*"
     r"\bvoid\s+zs_free_deferred_stats\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*,"
     r"\s*struct\s+zs_deferred_stats\s*\*\s*\w*\s*\)\s*;", "zs_free_deferred_stats"),
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY", "include/linux/zsmalloc.h",
     r"\bunsigned\s+int\s+zs_free_deferred_capacity\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*\)\s*;",
     "zs_free_deferred_capacity"),
    # the reference series' pool field: a case shortens the buffers through it
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY_FIELD", "mm/zsmalloc.c",
     r"^\s*unsigned\s+int\s+deferred_capacity\s*;", "deferred_capacity"),
    ("ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS", "include/linux/zsmalloc.h",
     r"\bstruct\s+zs_deferred_ops\s*\{[\s\S]*\bint\s+zs_pool_enable_deferred_free\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*,"
     r"\s*const\s+struct\s+zs_deferred_ops\s*\*\s*\w*\s*,\s*void\s*\*\s*\w*\s*\)\s*;[\s\S]*"
     r"\bvoid\s+zs_pool_disable_deferred_free\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*\)\s*;[\s\S]*"
     r"\bbool\s+zs_free_deferred\s*\(\s*struct\s+zs_pool\s*\*\s*\w*\s*,\s*unsigned\s+long\s*\w*\s*\)\s*;",
     "zs_deferred_ops"),
]


def detect_caps(texts: Dict[str, str]) -> Dict[str, Any]:
    """{macro: True} for what the texts ({path: content}) declare; notes for the rest."""
    found: Dict[str, bool] = {}
    notes: List[str] = []
    for macro, path, pattern, name in CAPS:
        text = _strip_comments(texts.get(path, ""))
        found[macro] = re.search(pattern, text, re.M) is not None
        if not found[macro]:
            m = re.search(r"^.*\b" + name + r"\b.*$", text, re.M)
            if m:
                notes.append(f"{name} appears in {path} but not as the suite calls it: {m.group(0).strip()}")
    return {"caps": found, "notes": notes}


def tree_caps(tree: str) -> Dict[str, Any]:
    """detect_caps() on a tree's files as they are."""
    texts = {}
    for f in {path for _, path, _, _ in CAPS}:
        with open(os.path.join(tree, f), encoding="utf-8", errors="replace") as h:
            texts[f] = h.read()
    return detect_caps(texts)


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*[\s\S]*?\*/|//[^\n]*", " ", text)


CAPS_INTRO_GLUE = ["Generated by zsgate's tree glue (ci/zsgate/treeprep.py): what this",
                   "revision declares, each thing detected on its own."]


def caps_header(det: Dict[str, Any], intro: Optional[List[str]] = None) -> str:
    """The capability header; `intro` replaces the comment at its top."""
    lines = ["/* SPDX-License-Identifier: GPL-2.0 */", "/*"]
    lines += [(" * " + s).rstrip() for s in (intro or CAPS_INTRO_GLUE)]
    lines.append(" */")
    for macro, path, _, _ in CAPS:
        if det["caps"][macro]:
            lines.append(f"#define {macro} 1\t/* {path} */")
        else:
            lines.append(f"/* {macro}: not declared in {path} */")
    for n in det["notes"]:
        lines.append("/* note: " + n.replace("*/", "* /") + " */")
    return "\n".join(lines) + "\n"


class TreeError(Exception):
    """The tree cannot be prepared; the message names the cause."""


def _copy_source(ksrc: str, dest: str) -> bool:
    """Copy ksrc to dest (a temporary name, then rename); True when by hard links."""
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    r = subprocess.run(["cp", "-al", ksrc, tmp], capture_output=True, text=True)
    linked = r.returncode == 0
    if not linked:  # another file system: a real copy
        shutil.rmtree(tmp, ignore_errors=True)
        r = subprocess.run(["cp", "-a", ksrc, tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise TreeError(f"cannot copy {ksrc}: {r.stderr.strip()}")
    os.rename(tmp, dest)
    return linked


# files a hard-linked work tree shares with its source as long as that source is the one
# it was copied from (a series could touch any one of them: the first untouched one counts)
LINK_PROBES = ["Makefile", "COPYING", "README", "MAINTAINERS", "Kconfig"]


def _relinked(ksrc: str, tree: str, touched: List[str]) -> bool:
    """False when the tree was hard-linked from ksrc but ksrc has been replaced since (e.g.
    unpacked again after ci/source found it damaged): the tree still holds the old files."""
    for f in LINK_PROBES:
        if f in touched:
            continue
        try:
            return os.stat(os.path.join(ksrc, f)).st_ino == os.stat(os.path.join(tree, f)).st_ino
        except FileNotFoundError:
            continue
    return True


def _write_state(path: str, state: Dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def _replace(path: str, src: Optional[str]) -> None:
    """Make `path` a new file with the content of `src` (None: remove it)."""
    if src is None:
        if os.path.lexists(path):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".zsgate-tmp"
    shutil.copyfile(src, tmp)
    shutil.copymode(src, tmp)
    os.replace(tmp, path)


def _same(a: Optional[str], b: str) -> bool:
    if a is None:
        return not os.path.lexists(b)
    return os.path.isfile(b) and filecmp.cmp(a, b, shallow=False)


def _apply(mini: str, series: Series) -> None:
    for p in series.patches:
        r = subprocess.run(
            ["patch", "-p1", "--unified", "--batch", "--forward", "--no-backup-if-mismatch",
             "--reject-file=-", "-d", mini],
            input=p.text, capture_output=True, text=True, errors="surrogateescape")
        if r.returncode != 0:
            raise TreeError(f"patch {p.name} does not apply: {_failing_file(r.stdout + r.stderr)}")


def _failing_file(out: str) -> str:
    current = "?"
    for line in out.splitlines():
        m = re.match(r"^(?:patching|checking) file '?([^']+?)'?$", line)
        if m:
            current = m.group(1)
        elif "FAILED" in line or "Reversed (or previously applied)" in line:
            return f"{current} ({line.strip()})"
        elif "can't find file" in line or "No such file" in line:
            return f"{current} (file not found)"
    last = out.strip().splitlines()[-1] if out.strip() else "no output"
    return f"{current} ({last})"


def suite_files(kunit_dir: str) -> List[str]:
    """The suite's files: kunit/zsmalloc_kunit.c and the zsmalloc_kunit_*.h it includes."""
    names = sorted(n for n in os.listdir(kunit_dir)
                   if n.startswith("zsmalloc_kunit") and n.endswith((".c", ".h")))
    if "zsmalloc_kunit.c" not in names:
        raise TreeError(f"{kunit_dir} has no zsmalloc_kunit.c")
    return names


def _glue(mini: str, ksrc: str, kunit_dir: str) -> Tuple[Dict[str, Any], List[str]]:
    """Wire the KUnit suite into the mini tree. Returns what the revision declares and
    the files the glue wrote."""
    for f in GLUE_EDITS + [path for _, path, _, _ in CAPS]:
        dst = os.path.join(mini, f)
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(ksrc, f), dst)
    det = tree_caps(mini)
    for f, glue in (("mm/Kconfig", glue_kconfig), ("mm/zsmalloc.c", glue_zsmalloc)):
        path = os.path.join(mini, f)
        with open(path, encoding="utf-8", errors="surrogateescape") as h:
            text = h.read()
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as h:
            h.write(glue(text))
    os.makedirs(os.path.join(mini, "mm/tests"), exist_ok=True)
    written = list(GLUE_EDITS)
    for n in suite_files(kunit_dir):
        shutil.copyfile(os.path.join(kunit_dir, n), os.path.join(mini, "mm/tests", n))
        written.append("mm/tests/" + n)
    with open(os.path.join(mini, CAPS_HEADER), "w", encoding="utf-8") as h:
        h.write(caps_header(det))
    written.append(CAPS_HEADER)
    return det, written


@dataclass(frozen=True)
class Made:
    """A work tree make_tree() prepared: where, the series id ("" for base), whether the
    revision declares Part B, and the lines ci/tree says about it on stderr."""
    tree: str
    series_id: str
    part_b: bool
    lines: Tuple[str, ...]


def make_tree(ksrc: str, name: str, series_path: Optional[str], kunit_dir: str,
              tree: Optional[str] = None) -> Made:
    """ci/tree --ksrc KSRC --name NAME [--series PATH] [--tree TREE] in this process: the work
    tree NAME (base, patched, prev; default config.work_tree(ksrc, name)) of @ksrc with the
    series at @series_path (not for base) and the suite of @kunit_dir. TreeError with the
    line ci/tree prints after "zsgate: tree: "."""
    if not os.path.isfile(os.path.join(ksrc, "mm/zsmalloc.c")):
        raise TreeError(f"{ksrc} is not a Linux source tree")
    if name != "base" and not series_path:
        raise TreeError(f"the {name} tree needs --series")
    t0 = time.time()
    tree = tree or config.work_tree(ksrc, name)
    try:
        series = read_series(series_path) if name != "base" and series_path else None
        state = prepare(ksrc, tree, series, kunit_dir)
    except SeriesError as e:
        raise TreeError(str(e)) from e
    desc = "no series" if series is None else f"{series.kind} {state['series']['id']}, {len(series.patches)} patches"
    caps = ", ".join(m.replace("ZSMALLOC_KUNIT_HAVE_", "").lower() for m, v in state["caps"].items() if v)
    lines = [f"[tree] {name}: {tree} ({desc}; declares: {caps or 'nothing the suite knows'};"
             f" {time.time() - t0:.1f} s)"]
    lines += [f"[tree] {name}: {n}: the cases that need it SKIP" for n in state["caps_notes"]]
    return Made(tree, state["series"]["id"] if series else "", bool(state["part_b"]), tuple(lines))


def prepare(ksrc: str, tree: str, series: Optional[Series], kunit_dir: str) -> Dict[str, Any]:
    """Bring `tree` to: ksrc + series + glue. Returns the state written into the tree."""
    ksrc = os.path.realpath(ksrc)
    state_path = os.path.join(tree, STATE)
    old: Dict[str, Any] = {}
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as h:
            old = json.load(h)
    if old and "linked" not in old:  # a state of before "linked": tell by the inodes now
        old["linked"] = _relinked(ksrc, tree, old.get("touched", []))
    if old.get("linked") and not _relinked(ksrc, tree, old.get("touched", [])):
        old = {}  # the source was replaced since this tree was copied from it: copy again
    linked = old.get("linked", False)
    if old.get("ksrc") != ksrc or not os.path.isdir(tree):
        shutil.rmtree(tree, ignore_errors=True)
        linked = _copy_source(ksrc, tree)
        old = {}

    with tempfile.TemporaryDirectory(prefix="zsgate-mini-") as mini:
        touched: List[str] = []
        for p in (series.patches if series else []):
            for f in touched_files(p.text):
                if f not in touched:
                    touched.append(f)
        for f in touched:
            src = os.path.join(ksrc, f)
            if os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(mini, f)), exist_ok=True)
                shutil.copy2(src, os.path.join(mini, f))
        if series:
            _apply(mini, series)
        det, glued = _glue(mini, ksrc, kunit_dir)
        new_touched = sorted(set(touched) | set(glued))

        # Sync: what the mini tree says for files it touched; the source for the rest.
        # First a state naming every file the sync may change: a sync cut short (a signal,
        # a full disk) leaves a tree whose next prepare() looks at all of them again, and
        # whose tree key (build.py) matches no build stamp.
        sync = sorted(set(new_touched) | set(old.get("touched", [])))
        _write_state(state_path, {"ksrc": ksrc, "linked": linked, "touched": sync, "incomplete": True})
        for f in sync:
            if f in new_touched:
                m = os.path.join(mini, f)
                want = m if os.path.isfile(m) else None
            else:
                s = os.path.join(ksrc, f)
                want = s if os.path.isfile(s) else None
            dst = os.path.join(tree, f)
            if not _same(want, dst):
                _replace(dst, want)

    state = {
        "ksrc": ksrc,
        "linked": linked,
        "touched": new_touched,
        "series": None if series is None else {
            "kind": series.kind, "path": os.path.realpath(series.path), "id": series.ident,
            "patches": [p.name for p in series.patches]},
        "part_b": det["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"] or det["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS"],
        "caps": det["caps"],
        "caps_notes": det["notes"],
    }
    _write_state(state_path, state)
    return state


def find_source(ci_dir: str, environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """ci/source's result (KSRC, KVERSION, KPKG, PART_A) for @environ's KDIR / BASE
    (None: this process's environment as it is; a mapping: KDIR, BASE and ZSGATE_KPKG only as
    it gives them), found in this process by zsgate.kernelsrc (@ci_dir is not needed any
    more; kept for the callers); its progress goes straight to stderr as it happens, as lines
    of the step "source". TreeError when it fails or names no KSRC."""
    env = dict(os.environ)
    if environ is not None:
        env = {k: v for k, v in env.items() if k not in ("KDIR", "BASE", "ZSGATE_KPKG")}
        env.update(environ)
    try:
        got = kernelsrc.find(env)
    except kernelsrc.Exit as e:
        raise TreeError(f"ci/source failed (exit {e.code}): its messages are above") from e
    out = {str(k): str(v) for k, v in got.items()}
    if not out.get("KSRC"):
        raise TreeError("ci/source named no KSRC")
    return out


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/tree (./zsgate tree): make the base or patched work tree of a kernel source. Its usage: ci/tree."""
    ap = argparse.ArgumentParser(prog="ci/tree", description="make the base or patched work tree of a kernel source")
    ap.add_argument("--ksrc", required=True)
    ap.add_argument("--name", choices=["base", "patched", "prev"])
    ap.add_argument("--caps", action="store_true",
                    help="print mm/tests/zsmalloc_kunit_caps.h for --ksrc as it is, change nothing")
    ap.add_argument("--series")
    ap.add_argument("--tree")
    ap.add_argument("--kunit-dir", default=os.path.join(_ROOT, "kunit"),
                    help="the suite: zsmalloc_kunit.c and its zsmalloc_kunit_*.h")
    a = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(a.ksrc, "mm/zsmalloc.c")):
        print(f"zsgate: tree: {a.ksrc} is not a Linux source tree", file=sys.stderr)
        return 1
    if a.caps:
        print(caps_header(tree_caps(a.ksrc)), end="")
        return 0
    if not a.name:
        print("zsgate: tree: --name base|patched|prev (or --caps) is needed", file=sys.stderr)
        return 1
    try:
        made = make_tree(a.ksrc, a.name, a.series, a.kunit_dir, a.tree)
    except TreeError as e:
        print(f"zsgate: tree: {e}", file=sys.stderr)
        return 1
    for line in made.lines:
        print(line, file=sys.stderr)
    print(f"TREE={shlex.quote(made.tree)}")
    print(f"SERIES_ID={made.series_id}")
    print(f"PART_B={'true' if made.part_b else 'false'}")
    return 0

