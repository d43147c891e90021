# SPDX-License-Identifier: GPL-2.0
"""Make a work tree: a hard-link copy of the source plus the series and the KUnit glue.

The source (Debian's cache or a user's KDIR) is never written. The work tree shares the
source's files through hard links; every file zsgate changes is replaced by a new file
(write to a temporary name, then rename), which breaks the link. Patches are applied in a
scratch "mini tree" holding only the files they touch, so a patch that does not apply leaves
the work tree as it was. Only files whose content changes are rewritten, so make rebuilds
just what a revision really changed.
"""

import filecmp
import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional

from .series import Series, touched_files

STATE = ".zsgate-state.json"

KCONFIG_GLUE = """
config ZSMALLOC_KUNIT_TEST
	bool "KUnit tests for zsmalloc" if !KUNIT_ALL_TESTS
	depends on ZSMALLOC=y && KUNIT=y
	default KUNIT_ALL_TESTS
	help
	  White-box KUnit tests of zsmalloc (added by zsgate): obj encoding,
	  migration-safe class lookup and, where the kernel has it,
	  zs_free_deferred().
"""

ZSMALLOC_GLUE = """
#ifdef CONFIG_ZSMALLOC_KUNIT_TEST
#include "tests/zsmalloc_kunit.c"
#endif
"""

MAKEFILE_GLUE = "\nCFLAGS_zsmalloc.o += -DZSMALLOC_KUNIT_HAVE_DEFERRED\n"
CAPACITY_GLUE = "CFLAGS_zsmalloc.o += -DZSMALLOC_KUNIT_HAVE_DEFERRED_CAPACITY\n"

GLUE_FILES = ["mm/Kconfig", "mm/zsmalloc.c", "mm/Makefile", "mm/tests/zsmalloc_kunit.c"]


class TreeError(Exception):
    """The tree cannot be prepared; the message names the cause."""


def _copy_source(ksrc: str, dest: str) -> None:
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    r = subprocess.run(["cp", "-al", ksrc, tmp], capture_output=True, text=True)
    if r.returncode != 0:  # another file system: a real copy
        shutil.rmtree(tmp, ignore_errors=True)
        r = subprocess.run(["cp", "-a", ksrc, tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise TreeError(f"cannot copy {ksrc}: {r.stderr.strip()}")
    os.rename(tmp, dest)


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
            ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch",
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


def _glue(mini: str, ksrc: str, kunit_file: str) -> bool:
    """Wire the KUnit suite into the mini tree. Returns whether Part B is declared."""
    for f in GLUE_FILES[:3]:
        dst = os.path.join(mini, f)
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(ksrc, f), dst)
    with open(os.path.join(mini, "include/linux/zsmalloc.h")
              if os.path.exists(os.path.join(mini, "include/linux/zsmalloc.h"))
              else os.path.join(ksrc, "include/linux/zsmalloc.h"), encoding="utf-8") as h:
        part_b = re.search(r"\bzs_free_deferred\s*\(", h.read()) is not None
    with open(os.path.join(mini, "mm/Kconfig"), "a", encoding="utf-8") as f:
        f.write(KCONFIG_GLUE)
    with open(os.path.join(mini, "mm/zsmalloc.c"), "a", encoding="utf-8") as f:
        f.write(ZSMALLOC_GLUE)
    if part_b:
        with open(os.path.join(mini, "mm/zsmalloc.c"), encoding="utf-8") as f:
            capacity_field = re.search(r"^\s*unsigned int deferred_capacity;", f.read(), re.M) is not None
        with open(os.path.join(mini, "mm/Makefile"), "a", encoding="utf-8") as f:
            f.write(MAKEFILE_GLUE)
            if capacity_field:   # the reference series' pool field: a case shortens the buffers
                f.write(CAPACITY_GLUE)
    dst = os.path.join(mini, "mm/tests/zsmalloc_kunit.c")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(kunit_file, dst)
    return part_b


def prepare(ksrc: str, tree: str, series: Optional[Series], kunit_file: str) -> Dict:
    """Bring `tree` to: ksrc + series + glue. Returns the state written into the tree."""
    ksrc = os.path.realpath(ksrc)
    state_path = os.path.join(tree, STATE)
    old: Dict = {}
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            old = json.load(f)
    if old.get("ksrc") != ksrc or not os.path.isdir(tree):
        shutil.rmtree(tree, ignore_errors=True)
        _copy_source(ksrc, tree)
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
        part_b = _glue(mini, ksrc, kunit_file)
        new_touched = sorted(set(touched) | set(GLUE_FILES))

        # Sync: what the mini tree says for files it touched; the source for the rest.
        for f in sorted(set(new_touched) | set(old.get("touched", []))):
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
        "touched": new_touched,
        "series": None if series is None else {
            "kind": series.kind, "path": os.path.realpath(series.path), "id": series.ident,
            "patches": [p.name for p in series.patches]},
        "part_b": part_b,
    }
    tmp = state_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, state_path)
    return state
