# SPDX-License-Identifier: GPL-2.0
"""A gate run directory as a KCIDB report (I/O schema v5.3), and its validation.

Objects (ids are "zsgate:<run-id>..."; origin "zsgate", or the one given with --origin):
  checkout  zsgate:<run-id>: the source (Debian package and version, or the KDIR tree and its
            commit when it is a git work tree of its own) and the series (kind, id, patch
            names, patchset_hash over the patches as read now from the series path).
  builds    zsgate:<run-id>:build:<kunit run>: one per kernel, i.e. per KUnit run of
            meta.json. PASS when kunit.py got as far as starting the kernel, FAIL when its
            build log shows no built kernel (the first compiler error in log_excerpt),
            MISS when there is no build log at all. The VM runs and the A/B boot these same
            images (ci/vm --build-dir, ci/ab), so their tests point at them.
  tests     zsgate:<run-id>:test:<n>, one per
            - KUnit case, parameterised cases one per parameter:
              zsgate.kunit.<suite>.<case>[.<param>] (names sanitised to [A-Za-z0-9_-]);
            - kselftest case of a VM run: zsgate.vm.<collection>.<case>;
            - run-level outcome where there is one: zsgate.kunit / zsgate.vm ERROR (no
              results, a hang, a collection that never started) or MISS (not booted, for a
              reason other than a failed build);
            - console check of each run with a console log: zsgate.<kind>.console_clean,
              PASS, or FAIL with the splat lines (results.find_splats);
            - A/B figures (ab.json): zsgate.ab.<backend>.<case>.mb<size>.p<procs>.median on
              the base and on the patched build, .speedup on the patched one, and
              zsgate.ab.<backend>.pooled.speedup, all DONE with "number" (medians in seconds
              with prefix "metric", shown as µs/ms; speedups dimensionless); zsgate.ab
              itself PASS/FAIL (a regression)/ERROR (boots failed, no figures)/MISS (not run).
            A run whose build failed has no tests. A case absent from a run that crashed or
            hung is MISS when the name can be told: kunit.py writes an unnamed ERROR case
            for each subtest the plan promised and the run never reached; those get the
            names of the cases the same group has in the other runs of the same kind (same
            revision first, then any) and this one lacks, when the counts match, and are
            "<group>.missing_<i>" otherwise (the candidates in misc). A VM run that did not
            complete gets a MISS for each case its sibling VM runs (same filter) ran and it
            did not. Skip reasons go into misc.reason.

main() is ci/kcidb (its usage is there); ci/gate calls it in-process.

validate() checks a report against the schema (python3-jsonschema, Draft-07, as kcidb-io
does), plus what jsonschema does not check everywhere: the "uri" and "date-time" formats
(Debian's jsonschema 4.10 has no checker for either without extra packages), unique ids per
object type, and that every checkout_id and build_id resolves within the report.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.parse
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from . import rundir
from .results import build_failure, find_splats, kcsan_reports, skip_reasons

ORIGIN = "zsgate"
VERSION = {"major": 5, "minor": 3}
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kcidb_schema_v5_3.json")
EXCERPT_MAX = 16384
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STAMP = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] ")
_ELAPSED = re.compile(r"Elapsed time: [\d.]+s total, ([\d.]+)s configuring, ([\d.]+)s building")
_RUN_ID_TIME = re.compile(r"^(\d{8})-(\d{6})(?:-|$)")
CRASH_PLACEHOLDER = ""   # kunit.py's name for a subtest the plan promised and the run never reached


def sanitize(name: str) -> str:
    """One component of a KCIDB path: [A-Za-z0-9_-]+ (runs of anything else become '_')."""
    s = _UNSAFE.sub("_", str(name)).strip("_")
    return s or "unnamed"


def path_of(parts: Iterable[str]) -> str:
    return ".".join(sanitize(p) for p in parts)


# ---------------------------------------------------------------------------- reading

def _load(path: str) -> Any:
    """A JSON file's document (whatever JSON value it holds)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _load_opt(path: str) -> Any:
    if not os.path.exists(path):
        return None
    try:
        return _load(path)
    except ValueError:
        return None


def _lines(path: str) -> List[str]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readlines()


def leaves(root: Dict[str, Any], prefix: Tuple[str, ...] = ()) -> List[Tuple[Tuple[str, ...], Dict[str, Any]]]:
    """(group names below the root, case) of every leaf case of a kunit.py --json tree
    (the shape ci/vm writes too), in file order."""
    out = []
    for case in root.get("test_cases", []):
        out.append((prefix, case))
    for sub in root.get("sub_groups", []):
        out += leaves(sub, prefix + (str(sub.get("name")),))
    return out


def case_names(root: Dict[str, Any]) -> Dict[Tuple[str, ...], List[str]]:
    """Group path -> names of its cases (leaf cases and parameterised groups), crash
    placeholders left out: what a sibling run tells about the cases a group holds."""
    out: Dict[Tuple[str, ...], List[str]] = {}

    def walk(g: Dict[str, Any], prefix: Tuple[str, ...]) -> None:
        names = out.setdefault(prefix, [])
        for c in g.get("test_cases", []):
            if str(c.get("name", "")) != CRASH_PLACEHOLDER:
                names.append(str(c["name"]))
        for sub in g.get("sub_groups", []):
            names.append(str(sub.get("name")))
            walk(sub, prefix + (str(sub.get("name")),))

    walk(root, ())
    return out


def ktap_skip_reasons(lines: Iterable[str]) -> Dict[Tuple[str, ...], str]:
    """(group path, case) -> SKIP reason from a KTAP file, names with spaces included
    (parameters). The group path comes from the '# Subtest:' headers by indentation.
    Case-level reasons also come from results.skip_reasons (see _kunit_tests)."""
    out: Dict[Tuple[str, ...], str] = {}
    stack: List[Tuple[int, str]] = []
    for raw in lines:
        line = raw.rstrip("\n")
        ind = len(line) - len(line.lstrip(" "))
        m = re.match(r"^\s*# Subtest: (.*)$", line)
        if m:
            while stack and stack[-1][0] >= ind:
                stack.pop()
            stack.append((ind, m.group(1).strip()))
            continue
        m = re.match(r"^\s*ok \d+ (.*?)\s+#\s*SKIP\b\s*(.*)$", line)
        if m:
            # a group's '# Subtest:' header is indented like its cases' result lines,
            # its own result line one level less
            group = tuple(n for i, n in stack if i <= ind)
            if m.group(2).strip():
                out[group + (m.group(1),)] = m.group(2).strip()
    return out


# ---------------------------------------------------------------------------- helpers

class Report:
    def __init__(self, run_dir: str, base_url: Optional[str], origin: str = ORIGIN):
        if not re.fullmatch(r"[a-z0-9_]+", origin):
            raise ValueError(f"origin {origin!r}: KCIDB origins are [a-z0-9_]+")
        self.run_dir = run_dir
        self.run_id = os.path.basename(os.path.realpath(run_dir))
        self.origin = origin
        self.prefix = f"{origin}:{self.run_id}"
        self.base_url = base_url
        self.builds: List[Dict[str, Any]] = []
        self.tests: List[Dict[str, Any]] = []

    def file(self, name: str, ext: rundir.RunExt) -> str:
        """RUN_DIR/NAME.EXT, a file of the run `name`."""
        return rundir.run_file(self.run_dir, name, ext)

    def url(self, name: str, ext: rundir.RunExt) -> Optional[str]:
        """The URL of a file of the run `name` (None when it is not there)."""
        fname = rundir.file_name(name, ext)
        if not os.path.exists(self.file(name, ext)):
            return None
        if self.base_url:
            return self.base_url.rstrip("/") + "/" + urllib.parse.quote(fname)
        return "file://" + urllib.parse.quote(os.path.abspath(self.file(name, ext)))

    def build_id(self, name: str) -> str:
        return f"{self.prefix}:build:{name}"

    def has_build(self, name: str) -> bool:
        return any(b["id"] == self.build_id(name) for b in self.builds)

    def test(self, build: str, path: str, status: str, **kw: Any) -> Dict[str, Any]:
        t: Dict[str, Any] = {"id": f"{self.prefix}:test:{len(self.tests) + 1}", "origin": self.origin,
             "build_id": self.build_id(build), "path": path, "status": status}
        for k, v in kw.items():
            if v is None or v == {} or v == "":
                continue
            t[k] = v[:EXCERPT_MAX] if k == "log_excerpt" else v
        self.tests.append(t)
        return t


def run_start(run_id: str) -> Optional[datetime.datetime]:
    """The gate's run ids start with the UTC date and time: 20261201-211210-<series>."""
    m = _RUN_ID_TIME.match(run_id)
    if not m:
        return None
    try:
        return datetime.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def iso(t: datetime.datetime) -> str:
    return t.isoformat()


def build_times(lines: List[str], start: Optional[datetime.datetime]) -> Tuple[Optional[str], Optional[float]]:
    """(start_time, duration in s) of a kunit.py build from its log: 'Elapsed time: ...
    configuring, ... building' when kunit.py finished, else the [HH:MM:SS] stamps from
    'Configuring KUnit Kernel' to 'Starting KUnit Kernel' (or to the last stamp)."""
    first: Optional[int] = None
    end: Optional[int] = None
    last: Optional[int] = None
    duration: Optional[float] = None
    for ln in lines:
        m = _ELAPSED.search(ln)
        if m:
            duration = round(float(m.group(1)) + float(m.group(2)), 3)
        m = _STAMP.match(ln)
        if not m:
            continue
        secs = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
        if first is None:
            if "Configuring KUnit Kernel" in ln:
                first = secs
            continue
        last = secs
        if end is None and "Starting KUnit Kernel" in ln:
            end = secs
    stop = end if end is not None else last
    if duration is None and first is not None and stop is not None:
        duration = float((stop - first) % 86400)
    when = None
    if start is not None and first is not None:
        day = start.replace(hour=0, minute=0, second=0)
        when = day + datetime.timedelta(seconds=first)
        if when < start - datetime.timedelta(minutes=5):
            when += datetime.timedelta(days=1)
    return (iso(when) if when else None), duration


def build_command(lines: List[str]) -> Optional[str]:
    """The make command line kunit.py printed after 'Building with:'."""
    for i, ln in enumerate(lines):
        if ln.strip() == "Building with:" and i + 1 < len(lines) and lines[i + 1].startswith("$ "):
            return lines[i + 1][2:].strip()
    return None


def git_head(path: str) -> Optional[Dict[str, Any]]:
    """Commit (and https origin URL) of a tree that is a git work tree of its own."""
    def git(*args: str) -> Optional[str]:
        try:
            r = subprocess.run(["git", "-C", path, *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None
    if not path or not os.path.isdir(path):
        return None
    top = git("rev-parse", "--show-toplevel")
    if not top or os.path.realpath(top) != os.path.realpath(path):
        return None   # not a repository, or a directory inside another one
    head = git("rev-parse", "HEAD")
    if not head or not re.fullmatch(r"[0-9a-f]{40}", head):
        return None
    out = {"git_commit_hash": head}
    name = git("describe", "--tags", "--always")
    if name:
        out["git_commit_name"] = name
    url = git("remote", "get-url", "origin")
    if url and url.startswith("https://"):
        out["git_repository_url"] = url
    return out


def patchset(series: Optional[Dict[str, Any]]) -> Tuple[Optional[str], Optional[List[str]], Optional[str]]:
    """(patchset_hash, patch names, why not) of the series as it is at its path now."""
    if not series:
        return "", [], None
    from .series import SeriesError, read_series
    try:
        s = read_series(series.get("path") or "")
    except (SeriesError, OSError, ValueError) as e:
        return None, None, f"series not readable now: {e}"
    if s.ident != series.get("id"):
        return None, [p.name for p in s.patches], \
            f"the series at {series.get('path')} is now {s.ident}, not the gated {series.get('id')}"
    hashes = "".join(hashlib.sha256(p.text.encode("utf-8", "surrogateescape")).hexdigest() + "\n"
                     for p in s.patches)
    return hashlib.sha256(hashes.encode()).hexdigest(), [p.name for p in s.patches], None


# ---------------------------------------------------------------------------- objects

def checkout(rep: Report, meta: Dict[str, Any], summary: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    k = meta.get("kernel") or {}
    ser = meta.get("series")
    phash, names, why = patchset(ser)
    co = {"id": rep.prefix, "origin": rep.origin, "valid": True}
    src = k.get("package") or k.get("path") or "?"
    what = f"{src} ({k.get('version')})"
    if ser:
        what += f" + {ser.get('kind')} series {ser.get('id')}"
        if names:
            what += f" ({len(names)} patches)"
    else:
        what += ", base only"
    co["comment"] = what
    if phash is not None:
        co["patchset_hash"] = phash
    git = None if k.get("package") else git_head(k.get("path") or "")
    if git:
        co.update(git)
    start = run_start(rep.run_id)
    if start:
        co["start_time"] = iso(start)
    misc = {"kernel": k, "series": dict(ser, patches=names) if ser else None}
    if why:
        misc["series_note"] = why
    if summary is not None:
        misc["verdict"] = summary.get("verdict")
        misc["problems"] = summary.get("problems", [])[:50]
    co["misc"] = misc
    return co


def kunit_build(rep: Report, r: Dict[str, Any], debug: bool) -> str:
    """Add the build of KUnit run r; its status."""
    name = r["name"]
    arch = r.get("arch") or ""
    blines = _lines(rep.file(name, "build.log"))
    has_json = os.path.exists(rep.file(name, "json"))
    cfg = [f"zsmalloc-{arch}.kunitconfig", "vm.config"]
    if os.path.exists(os.path.join(os.path.dirname(SCHEMA_FILE), "..", "..", "configs", f"vm-{arch}.config")):
        cfg.append(f"vm-{arch}.config")
    if debug:
        cfg.append("zsmalloc-debug.config")
    if r.get("config") == "kcsan":
        cfg.append("zsmalloc-kcsan.config")
    b: Dict[str, Any] = {"id": rep.build_id(name), "origin": rep.origin, "checkout_id": rep.prefix,
                         "architecture": re.sub(r"[^a-z0-9_]", "_", arch.lower()),
                         "config_name": "+".join(cfg)}
    why = None
    if has_json:
        b["status"] = "PASS"
    elif blines:
        why = build_failure(blines)
        b["status"] = "FAIL" if why else "PASS"
    else:
        b["status"] = "MISS"
        b["comment"] = "no build log: the build did not start"
    if blines:
        start, dur = build_times(blines, run_start(rep.run_id))
        if start:
            b["start_time"] = start
        if dur is not None:
            b["duration"] = dur
        cmd = build_command(blines)
        if cmd:
            b["command"] = cmd
        b["log_url"] = rep.url(name, "build.log")
    if why:
        tail = "".join(blines[-40:])
        b["log_excerpt"] = (why + "\n\n" + tail)[:EXCERPT_MAX]
        b["comment"] = f"build failed: {why}"[:1000]
    b["misc"] = {"run": name, "revision": r.get("revision"), "kind": "kunit"}
    rep.builds.append({k: v for k, v in b.items() if v is not None})
    return str(b["status"])


def extra_build(rep: Report, name: str, arch: str, revision: Optional[str], why: str) -> None:
    """A build this run's tests ran on but no KUnit run of the run dir made (by hand)."""
    if rep.has_build(name):
        return
    rep.builds.append({"id": rep.build_id(name), "origin": rep.origin, "checkout_id": rep.prefix,
                       "architecture": re.sub(r"[^a-z0-9_]", "_", (arch or "").lower()),
                       "comment": why, "misc": {"run": name, "revision": revision}})


def _siblings(all_runs: List[Dict[str, Any]], r: Dict[str, Any], roots: Dict[str, Dict[str, Any]],
              same: Tuple[str, ...] = ("kind",)) -> List[Dict[str, Any]]:
    """Other runs with results, the same revision first, then the rest of the same kind."""
    others = [o for o in all_runs if o["name"] != r["name"] and o["name"] in roots
              and all(o.get(k) == r.get(k) for k in same)]
    return ([o for o in others if o.get("revision") == r.get("revision")]
            + [o for o in others if o.get("revision") != r.get("revision")])


def _miss_candidates(root: Optional[Dict[str, Any]], sib_roots: List[Dict[str, Any]],
                     groups: Optional[Iterable[Tuple[str, ...]]] = None) -> Dict[Tuple[str, ...], List[str]]:
    """Group path -> names of the cases the siblings have in that group and this run has
    not (the first sibling that has the group decides, in its order). `groups`: which
    group paths; default the case level (suite/collection -> its cases)."""
    have = case_names(root) if root else {}
    want = set(groups) if groups is not None else None
    out: Dict[Tuple[str, ...], List[str]] = {}
    for sroot in sib_roots:
        for g, names in case_names(sroot).items():
            if g in out or (len(g) != 1 if want is None else g not in want):
                continue
            miss = [n for n in names if n not in have.get(g, [])]
            if miss:
                out[g] = miss
    return out


def kunit_tests(rep: Report, r: Dict[str, Any], all_runs: List[Dict[str, Any]], roots: Dict[str, Dict[str, Any]]) -> None:
    name = r["name"]
    root = roots.get(name)
    ktap = _lines(rep.file(name, "ktap"))
    reasons = ktap_skip_reasons(ktap)
    case_reasons: Dict[str, str] = {}
    for s in skip_reasons(ktap):
        case_name, _, reason = s.partition(": ")
        case_reasons.setdefault(case_name, reason)
    log_url = rep.url(name, "log")
    base = ("zsgate", "kunit")
    sibs = [roots[o["name"]] for o in _siblings(all_runs, r, roots)]
    if root is None:
        cand = _miss_candidates(None, sibs)
        rep.test(name, "zsgate.kunit", "ERROR", log_url=log_url,
                 comment="the kernel was built but kunit.py wrote no results (boot failure or crash "
                         "before the first result)",
                 log_excerpt="".join(_lines(rep.file(name, "build.log"))[-40:]),
                 misc={"run": name})
        for g, names in cand.items():
            for n in names:
                rep.test(name, path_of(base + g + (n,)), "MISS", log_url=log_url,
                         misc={"run": name, "reason": "absent: the run produced no results; the case "
                                                      "is in the other KUnit runs"})
        return
    seen: Dict[str, int] = {}
    placeholders: Dict[Tuple[str, ...], int] = {}
    for group, case in leaves(root):
        g = group[1:] if group[:1] == ("KUnit Test Group",) else group
        raw = str(case.get("name", ""))
        if raw == CRASH_PLACEHOLDER:
            placeholders[g] = placeholders.get(g, 0) + 1
            continue
        p = path_of(base + g + (raw,))
        seen[p] = seen.get(p, 0) + 1
        if seen[p] > 1:
            p += f"_{seen[p]}"
        status = str(case["status"]) if case.get("status") in ("PASS", "FAIL", "SKIP", "ERROR") else "FAIL"
        misc = {"run": name}
        if sanitize(raw) != raw:
            misc["name"] = raw
        why = reasons.get(g + (raw,)) or (case_reasons.get(raw) if len(g) <= 1 else None)
        if why and status == "SKIP":
            misc["reason"] = why
        if status == "ERROR":
            misc["reason"] = "the case did not complete (kunit.py: crashed)"
        rep.test(name, p, status, log_url=log_url, misc=misc)
    cand = _miss_candidates(root, sibs, placeholders) if placeholders else {}
    for g, count in placeholders.items():
        names = cand.get(g, [])
        if len(names) == count:
            for cname in names:
                rep.test(name, path_of(base + g + (cname,)), "MISS", log_url=log_url,
                         misc={"run": name, "reason": "never ran: the run ended before it (crash); "
                                                      "named after the same group in the other KUnit runs"})
        else:
            for i in range(1, count + 1):
                rep.test(name, path_of(base + g + (f"missing_{i}",)), "MISS", log_url=log_url,
                         misc={"run": name, "reason": "never ran: the run ended before it (crash); "
                                                      "which case it was cannot be told",
                               "candidates": names})


def vm_tests(rep: Report, r: Dict[str, Any], all_runs: List[Dict[str, Any]], roots: Dict[str, Dict[str, Any]],
             vmj: Dict[str, Dict[str, Any]], build: str) -> None:
    name = r["name"]
    vm = vmj.get(name)
    root = roots.get(name)
    log_url = rep.url(name, "log")
    if vm is not None and vm.get("status") == "not run":
        st = vm.get("build") or {}
        if st.get("status") == "failed":
            return   # the build failed: its FAIL build says it; nothing ran on it
        rep.test(build, "zsgate.vm", "MISS", comment=("not booted: " + str(vm.get("refused")))[:1000],
                 misc={"run": name, "reason": vm.get("refused")})
        return
    if vm is None and root is None:
        rep.test(build, "zsgate.vm", "MISS", comment="no results: the VM run left no files",
                 misc={"run": name})
        return
    complete = vm is not None and vm.get("status") == "complete"
    problems = list((vm or {}).get("problems", []))
    if root is None:
        problems.append(f"{name}.json missing")
    cand: Dict[Tuple[str, ...], List[str]] = {}
    if not complete:
        flt = (vm or {}).get("filter")
        sibs = [roots[o["name"]] for o in _siblings(all_runs, r, roots)
                if (vmj.get(o["name"]) or {}).get("status") == "complete"
                and (vmj.get(o["name"]) or {}).get("filter") == flt]
        cand = _miss_candidates(root, sibs)
    if problems or not complete:
        rep.test(build, "zsgate.vm", "ERROR", log_url=log_url,
                 comment=f"the VM run is {(vm or {}).get('status', 'without vm.json')}",
                 log_excerpt="\n".join(problems),
                 duration=(vm or {}).get("seconds"),
                 misc={"run": name, "status": (vm or {}).get("status"), "problems": problems})
    seen: Dict[str, int] = {}
    for group, case in (leaves(root) if root else []):
        raw = str(case.get("name", ""))
        if not group:
            continue   # ci/vm's run-level problems: in the zsgate.vm test above
        coll = group[0]
        if raw == f"{coll} (collection)":
            parts: Tuple[str, ...] = ("zsgate", "vm", coll)
        else:
            parts = ("zsgate", "vm", coll) + tuple(raw.split("."))
        p = path_of(parts)
        seen[p] = seen.get(p, 0) + 1
        if seen[p] > 1:
            p += f"_{seen[p]}"
        status = str(case["status"]) if case.get("status") in ("PASS", "FAIL", "SKIP", "ERROR") else "FAIL"
        misc = {"run": name}
        if path_of(parts[3:]) != raw:
            misc["name"] = raw
        if case.get("reason"):
            misc["reason"] = case["reason"]
        rep.test(build, p, status, log_url=log_url, misc=misc)
    for g, names in cand.items():
        for n in names:
            rep.test(build, path_of(("zsgate", "vm") + g + tuple(n.split("."))), "MISS", log_url=log_url,
                     misc={"run": name, "reason": f"never ran: the VM run is {(vm or {}).get('status')}; "
                                                  "the case ran in the other VM runs with this filter"})


def console_test(rep: Report, r: Dict[str, Any], build: str) -> None:
    log = rep.file(r["name"], "log")
    if not os.path.exists(log):
        return
    lines = _lines(log)
    kcsan = r.get("config") == "kcsan"
    splats = find_splats(lines, kcsan=kcsan)
    if kcsan:
        # as ci/summary: data-race reports outside zsmalloc/zram/zswap do not count
        splats += kcsan_reports(lines, os.environ.get("ZSGATE_KCSAN_ALL", "0") == "1")["ours"]
    kind = "vm" if r.get("kind") == "vm" else "kunit"
    rep.test(build, f"zsgate.{kind}.console_clean", "FAIL" if splats else "PASS",
             log_url=rep.url(r["name"], "log"),
             comment=f"{len(splats)} kernel splat line(s)" if splats else None,
             log_excerpt="\n".join(splats),
             misc={"run": r["name"]})


def ab_tests(rep: Report, ab: Dict[str, Any], kunit_runs: List[Dict[str, Any]]) -> None:
    arch = ab.get("arch") or "x86_64"
    labels = ab.get("labels") or ["base", "patched"]

    def build_of(label: str) -> str:
        for r in kunit_runs:
            if r.get("arch") == arch and r.get("revision") == label and r["name"] == f"kunit-{arch}-{label}":
                return str(r["name"])
        name = f"ab-{arch}-{label}"
        extra_build(rep, name, arch, label,
                    f"the {label} kernel the A/B booted (tree {(ab.get('trees') or {}).get(label)}); "
                    "no KUnit run of this run dir built it")
        return name

    bb, pb = build_of(labels[0]), build_of(labels[-1])
    if ab.get("not_run"):
        rep.test(pb, "zsgate.ab", "MISS", comment=("not run: " + ab["not_run"])[:1000],
                 misc={"reason": ab["not_run"]})
        return
    for e in ab.get("entries", []):
        parts = ("zsgate", "ab", str(e.get("backend")), str(e.get("case")),
                 f"mb{e.get('size_mb')}", f"p{e.get('procs')}")
        for side, b in (("base", bb), ("patched", pb)):
            v = (e.get(side) or {}).get("median_us")
            if v is None:
                continue
            rep.test(b, path_of(parts + ("median",)), "DONE",
                     number={"value": float(v) / 1e6, "unit": "s", "prefix": "metric"},
                     comment=f"{e.get('metric', 'median_us')}: median over {len((e.get(side) or {}).get('values_us', []))} "
                             f"boots of each boot's median ({labels[0] if side == 'base' else labels[-1]})",
                     misc={"median_us": v, **{k: x for k, x in (e.get(side) or {}).items() if k != "median_us"}})
        if e.get("speedup") is not None:
            rep.test(pb, path_of(parts + ("speedup",)), "DONE", number={"value": float(e["speedup"])},
                     comment=f"{labels[0]}/{labels[-1]} median release time",
                     misc={k: e.get(k) for k in ("speedup_lo", "speedup_hi", "ratio_lo", "ratio_hi",
                                                 "base_spread", "judged", "regression", "rounds")
                           if e.get(k) is not None} | {"baseline_build": rep.build_id(bb)})
    for p in ab.get("pooled", []):
        rep.test(pb, path_of(("zsgate", "ab", str(p.get("backend")), "pooled", "speedup")), "DONE",
                 number={"value": float(p["speedup"])},
                 comment=f"{len(p.get('cases', []))} one-process cases paired by round",
                 misc={k: p.get(k) for k in ("cases", "pairs", "speedup_lo", "speedup_hi", "ratio",
                                             "ratio_lo", "ratio_hi", "margin", "judged", "regression")}
                 | {"baseline_build": rep.build_id(bb)})
    regs, probs = ab.get("regressions", []), ab.get("problems", [])
    status = "FAIL" if regs else ("ERROR" if probs or not ab.get("entries") else "PASS")
    rep.test(pb, "zsgate.ab", status,
             comment=(f"{len(regs)} regression(s)" if regs else
                      f"{len(probs)} problem(s)" if probs else
                      "no figures" if not ab.get("entries") else "no regression"),
             log_excerpt="\n".join([f"regression: {x}" for x in regs] + [f"problem: {x}" for x in probs]
                                   + [f"warning: {x}" for x in ab.get("warnings", [])]),
             duration=ab.get("seconds"),
             misc={k: ab.get(k) for k in ("rounds", "inner_rounds", "margin", "pooled_margin", "statistic",
                                          "warnings") if ab.get(k) is not None})


def build_report(run_dir: str, base_url: Optional[str] = None, origin: str = ORIGIN) -> Dict[str, Any]:
    """The KCIDB v5.3 report of a gate run directory (see the module docstring). `origin`:
    the submitter name KCIDB agreed with you (ids become <origin>:<run-id>...; test paths
    stay zsgate.*)."""
    meta = _load(rundir.path(run_dir, rundir.META))
    rep = Report(run_dir, base_url, origin)
    runs = meta.get("runs", [])
    summary = _load_opt(rundir.path(run_dir, rundir.SUMMARY))
    co = checkout(rep, meta, summary)
    roots = {r["name"]: j for r in runs
             for j in [_load_opt(rundir.run_file(run_dir, r["name"], "json"))] if isinstance(j, dict)}
    vmj = {r["name"]: j for r in runs if r.get("kind") == "vm"
           for j in [_load_opt(rundir.run_file(run_dir, r["name"], "vm.json"))] if isinstance(j, dict)}
    kunit_runs = [r for r in runs if r.get("kind") != "vm"]
    status = {r["name"]: kunit_build(rep, r, r["name"].endswith("-debug")) for r in kunit_runs}
    kunit_roots = {r["name"]: roots[r["name"]] for r in kunit_runs if r["name"] in roots}
    vm_roots = {r["name"]: roots[r["name"]] for r in runs if r.get("kind") == "vm" and r["name"] in roots}
    for r in kunit_runs:
        if status[r["name"]] != "PASS":
            continue   # no kernel (build failed or never started): no test ran on it
        kunit_tests(rep, r, kunit_runs, kunit_roots)
        console_test(rep, r, r["name"])
    for r in runs:
        if r.get("kind") != "vm":
            continue
        vm = vmj.get(r["name"]) or {}
        st = vm.get("build") or {}
        bname = st.get("name") if st.get("name") and rep.has_build(st["name"]) else \
            ("kunit-" + r["name"][3:] if r["name"].startswith("vm-") else r["name"])
        if not rep.has_build(bname):
            extra_build(rep, bname, r.get("arch") or "", r.get("revision"),
                        f"the kernel {r['name']} booted ({vm.get('kernel')}); no KUnit run of this run dir built it")
        if status.get(bname) in ("FAIL", "MISS"):
            continue   # nothing booted: that kernel's build failed or never ran
        vm_tests(rep, r, [o for o in runs if o.get("kind") == "vm"], vm_roots, vmj, bname)
        if vm.get("status") != "not run":
            console_test(rep, r, bname)
    ab = _load_opt(rundir.path(run_dir, rundir.AB))
    if isinstance(ab, dict):
        ab_tests(rep, ab, kunit_runs)
    return {"version": dict(VERSION), "checkouts": [co], "builds": rep.builds, "tests": rep.tests}


# ---------------------------------------------------------------------------- validation

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00]*$")


def load_schema() -> Dict[str, Any]:
    schema: Dict[str, Any] = _load(SCHEMA_FILE)
    return schema


def _is_uri(v: object) -> bool:
    return not isinstance(v, str) or bool(_URI.match(v))


def _is_datetime(v: object) -> bool:
    if not isinstance(v, str):
        return True
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", v):
        return False
    try:
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def validate(doc: Dict[str, Any], schema: Optional[Dict[str, Any]] = None) -> List[str]:
    """Every problem of a report: schema errors (jsonschema, Draft-07, formats checked),
    duplicate ids, and checkout_id/build_id that do not resolve. [] when valid.
    Raises ImportError when python3-jsonschema is missing (ci/deps installs it)."""
    import jsonschema
    schema = schema or load_schema()
    fc = jsonschema.FormatChecker()
    # ours for these two, whatever optional packages jsonschema found
    fc.checkers.pop("uri", None)
    fc.checkers.pop("date-time", None)
    fc.checks("uri")(_is_uri)
    fc.checks("date-time")(_is_datetime)
    v = jsonschema.Draft7Validator(schema, format_checker=fc)
    errs = [f"{'/'.join(str(x) for x in e.absolute_path) or '(top)'}: {e.message}"
            for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    ids: Dict[str, Set[object]] = {}
    for kind in ("checkouts", "builds", "tests", "issues", "incidents"):
        seen = ids.setdefault(kind, set())
        for o in doc.get(kind, []) if isinstance(doc.get(kind), list) else []:
            i = o.get("id") if isinstance(o, dict) else None
            if i in seen:
                errs.append(f"{kind}: duplicate id {i}")
            seen.add(i)
    for b in doc.get("builds", []) or []:
        if isinstance(b, dict) and b.get("checkout_id") not in ids["checkouts"]:
            errs.append(f"builds: {b.get('id')}: checkout_id {b.get('checkout_id')} is not in the report")
    for t in doc.get("tests", []) or []:
        if isinstance(t, dict) and t.get("build_id") not in ids["builds"]:
            errs.append(f"tests: {t.get('id')}: build_id {t.get('build_id')} is not in the report")
    return errs


def counts(doc: Dict[str, Any]) -> Dict[str, int]:
    out = {k: len(doc.get(k, [])) for k in ("checkouts", "builds", "tests")}
    for t in doc.get("tests", []):
        out[t.get("status", "?")] = out.get(t.get("status", "?"), 0) + 1
    return out


def check(doc: Dict[str, Any]) -> int:
    """validate() with its errors on stderr: 0 valid, 1 invalid or python3-jsonschema missing."""
    try:
        errs = validate(doc)
    except ImportError:
        print("zsgate: kcidb: python3-jsonschema is missing (ci/deps installs it): not validated",
              file=sys.stderr)
        return 1
    for e in errs[:30]:
        print(f"zsgate: kcidb: invalid: {e}", file=sys.stderr)
    if len(errs) > 30:
        print(f"zsgate: kcidb: ... and {len(errs) - 30} more", file=sys.stderr)
    return 1 if errs else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/kcidb RUN_DIR [--base-url URL] [--origin NAME] [--out FILE] | --check FILE."""
    ap = argparse.ArgumentParser(prog="ci/kcidb", description="write RUN_DIR/kcidb.json, the run as a "
                                 "KCIDB report (I/O schema v5.3)")
    ap.add_argument("run_dir", nargs="?")
    ap.add_argument("--base-url", default=os.environ.get("ZSGATE_KCIDB_BASE_URL") or None)
    ap.add_argument("--origin", default=os.environ.get("ZSGATE_KCIDB_ORIGIN") or ORIGIN)
    ap.add_argument("--out")
    ap.add_argument("--check", metavar="FILE")
    a = ap.parse_args(argv)
    if a.check:
        with open(a.check, encoding="utf-8") as f:
            doc = json.load(f)
        rc = check(doc)
        c = counts(doc)
        print(f"{a.check}: {c['checkouts']} checkout(s), {c['builds']} build(s), {c['tests']} test(s): "
              + ("valid KCIDB v5.3" if rc == 0 else "NOT valid"))
        return rc
    if not a.run_dir or not os.path.isfile(rundir.path(a.run_dir, rundir.META)):
        print("usage: ci/kcidb RUN_DIR (a gate run directory with meta.json)", file=sys.stderr)
        return 2
    try:
        doc = build_report(a.run_dir, a.base_url, a.origin)
    except ValueError as e:
        print(f"zsgate: kcidb: {e}", file=sys.stderr)
        return 2
    out = a.out or rundir.path(a.run_dir, rundir.KCIDB)
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(out + ".tmp", out)
    rc = check(doc)
    c = counts(doc)
    st = ", ".join(f"{k} {c[k]}" for k in ("PASS", "FAIL", "SKIP", "ERROR", "MISS", "DONE") if c.get(k))
    print(f"{out}: {c['checkouts']} checkout, {c['builds']} build(s), {c['tests']} test(s)"
          + (f" ({st})" if st else "") + ": " + ("valid KCIDB v5.3" if rc == 0 else "NOT valid"), flush=True)
    return rc
