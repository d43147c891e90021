# SPDX-License-Identifier: GPL-2.0
"""ci/kcidb and ci/zsgate/kcidb.py: a run directory as a KCIDB v5.3 report.

The fixture run directory (ci/tests/data/kcidb-run, see its README) holds a good run, a
failed build, a KUnit run that crashed, a VM run that hung, a VM run not booted and an A/B.
python3-jsonschema is required (ci/deps installs it): the import fails the test without it.
"""
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import jsonschema

from zsgate import kcidb

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(CI, "tests", "data", "kcidb-run")
RUN_ID = "20261201-211210-759b65ff9a07"


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        # the gate's run ids carry the start time: the copy gets a real one
        self.run = os.path.join(self.tmp.name, RUN_ID)
        shutil.copytree(FIXTURE, self.run)

    def tearDown(self):
        self.tmp.cleanup()

    def report(self, **kw):
        return kcidb.build_report(self.run, **kw)

    @staticmethod
    def by_build(doc, run):
        return [t for t in doc["tests"] if t["build_id"].endswith(":build:" + run)]

    @staticmethod
    def find(doc, run, path):
        return [t for t in doc["tests"] if t["build_id"].endswith(":build:" + run) and t["path"] == path]


class SchemaTest(Base):
    def test_fixture_report_validates(self):
        doc = self.report()
        self.assertEqual(kcidb.validate(doc), [])
        # and with the plain validator too, against the schema file as shipped
        schema = kcidb.load_schema()
        jsonschema.Draft7Validator.check_schema(schema)
        self.assertEqual(list(jsonschema.Draft7Validator(schema).iter_errors(doc)), [])
        self.assertEqual(doc["version"], {"major": 5, "minor": 3})
        self.assertEqual(len(doc["checkouts"]), 1)
        self.assertEqual(len(doc["builds"]), 4)
        self.assertGreater(len(doc["tests"]), 100)

    def test_schema_rejects_what_v5_3_rejects(self):
        good = self.report()
        t0 = good["tests"][0]
        bad = {
            "unknown status": lambda d: d["tests"][0].update(status="BROKEN"),
            "empty path component": lambda d: d["tests"][0].update(path="zsgate..kunit"),
            "space in path": lambda d: d["tests"][0].update(path="zsgate.kunit.a b"),
            "no build_id": lambda d: d["tests"][0].pop("build_id"),
            "no origin": lambda d: d["builds"][0].pop("origin"),
            "unknown property": lambda d: d["tests"][0].update(waived=False),
            "id without origin": lambda d: d["tests"][0].update(id="test-1"),
            "upper-case origin": lambda d: d["checkouts"][0].update(origin="ZSGATE"),
            "major 4": lambda d: d.update(version={"major": 4, "minor": 3}),
            "minor 4": lambda d: d.update(version={"major": 5, "minor": 4}),
            "no version": lambda d: d.pop("version"),
            "relative log_url": lambda d: d["builds"][0].update(log_url="kunit-um-base.build.log"),
            "bad start_time": lambda d: d["checkouts"][0].update(start_time="yesterday"),
            "NUL in comment": lambda d: d["tests"][0].update(comment="a\0b"),
            "number without value": lambda d: d["tests"][0].update(number={"unit": "s"}),
            "bad prefix": lambda d: d["tests"][0].update(number={"value": 1, "prefix": "si"}),
            "null property": lambda d: d["tests"][0].update(comment=None),
            "bad architecture": lambda d: d["builds"][0].update(architecture="x86-64"),
            "long log_excerpt": lambda d: d["tests"][0].update(log_excerpt="x" * 16385),
            "short patchset_hash": lambda d: d["checkouts"][0].update(patchset_hash="abc"),
            "duplicate test id": lambda d: d["tests"].append(dict(t0)),
            "dangling build_id": lambda d: d["tests"][0].update(build_id="zsgate:nowhere"),
            "dangling checkout_id": lambda d: d["builds"][0].update(checkout_id="zsgate:nowhere"),
        }
        for what, change in bad.items():
            doc = copy.deepcopy(good)
            change(doc)
            self.assertNotEqual(kcidb.validate(doc), [], what)

    def test_schema_file_names_its_source(self):
        s = kcidb.load_schema()
        self.assertIn("kcidb_io/schema/v05_03.py", s["$comment"])
        self.assertEqual(s["properties"]["version"]["properties"]["major"]["const"], 5)
        self.assertEqual(s["properties"]["version"]["properties"]["minor"]["maximum"], 3)
        self.assertEqual(s["$defs"]["status"]["enum"], ["FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"])


class IdsTest(Base):
    def test_ids_unique_and_links_resolve(self):
        doc = self.report()
        prefix = f"zsgate:{RUN_ID}"
        for kind in ("checkouts", "builds", "tests"):
            ids = [o["id"] for o in doc[kind]]
            self.assertEqual(len(ids), len(set(ids)), kind)
            for o in doc[kind]:
                self.assertEqual(o["origin"], "zsgate")
                self.assertTrue(o["id"].startswith(prefix), o["id"])
        self.assertEqual(doc["checkouts"][0]["id"], prefix)
        builds = {b["id"] for b in doc["builds"]}
        meta = load(os.path.join(self.run, "meta.json"))
        self.assertEqual(builds, {f"{prefix}:build:{r['name']}" for r in meta["runs"] if r["kind"] == "kunit"})
        for b in doc["builds"]:
            self.assertEqual(b["checkout_id"], prefix)
        for i, t in enumerate(doc["tests"], 1):
            self.assertEqual(t["id"], f"{prefix}:test:{i}")
            self.assertIn(t["build_id"], builds)

    def test_checkout_start_time_from_run_id(self):
        co = self.report()["checkouts"][0]
        self.assertEqual(co["start_time"], "2026-12-01T21:12:10+00:00")
        self.assertTrue(co["valid"])


class BuildTest(Base):
    def test_build_failed_run_is_a_fail_build_without_tests(self):
        doc = self.report()
        b = next(b for b in doc["builds"] if b["id"].endswith(":build:kunit-um-patched"))
        self.assertEqual(b["status"], "FAIL")
        self.assertIn("mm/zsmalloc.c:2291: error: implicit declaration", b["log_excerpt"])
        self.assertTrue(b["log_url"].startswith("file:///") and b["log_url"].endswith("/kunit-um-patched.build.log"))
        # neither the KUnit run nor the VM run refused for that build has a test on it
        self.assertEqual(self.by_build(doc, "kunit-um-patched"), [])
        self.assertFalse([t for t in doc["tests"] if (t.get("misc") or {}).get("run") == "vm-um-patched"])

    def test_a_good_run_turned_build_failed_has_no_pass_test(self):
        # x86_64 base: its KUnit results and its VM run exist in the fixture; remove the
        # results and make its build log a failed one
        for ext in ("json", "ktap", "log"):
            os.remove(os.path.join(self.run, f"kunit-x86_64-base.{ext}"))
        with open(os.path.join(FIXTURE, "kunit-um-patched.build.log")) as f:
            failed = f.read().replace("ARCH=um", "ARCH=x86_64")
        with open(os.path.join(self.run, "kunit-x86_64-base.build.log"), "w") as f:
            f.write(failed)
        doc = self.report()
        self.assertEqual(kcidb.validate(doc), [])
        b = next(b for b in doc["builds"] if b["id"].endswith(":build:kunit-x86_64-base"))
        self.assertEqual(b["status"], "FAIL")
        tests = self.by_build(doc, "kunit-x86_64-base")
        self.assertFalse([t for t in tests if t["status"] == "PASS"], [t["path"] for t in tests])
        # before: the same build had PASS tests (KUnit and VM)
        shutil.copytree(FIXTURE, self.run + "-orig")
        orig = kcidb.build_report(self.run + "-orig")
        self.assertGreater(len([t for t in self.by_build(orig, "kunit-x86_64-base") if t["status"] == "PASS"]), 20)

    def test_build_fields(self):
        doc = self.report()
        b = next(b for b in doc["builds"] if b["id"].endswith(":build:kunit-um-base"))
        self.assertEqual(b["status"], "PASS")
        self.assertEqual(b["architecture"], "um")
        self.assertEqual(b["config_name"], "zsmalloc-um.kunitconfig+vm.config+vm-um.config")
        # kunit.py's "Elapsed time: 293.906s total, 5.340s configuring, 285.335s building"
        self.assertAlmostEqual(b["duration"], 5.340 + 285.335, places=3)
        self.assertEqual(b["start_time"], "2026-12-01T21:12:10+00:00")
        self.assertIn("ARCH=um", b["command"])
        # the crashed run's build log has no Elapsed line: the [HH:MM:SS] stamps
        b = next(b for b in doc["builds"] if b["id"].endswith(":build:kunit-x86_64-patched"))
        self.assertEqual(b["status"], "PASS")
        self.assertEqual(b["duration"], 9.0)   # 21:35:32 Configuring .. 21:35:41 Starting

    def test_no_build_log_is_a_miss_build(self):
        os.remove(os.path.join(self.run, "kunit-um-patched.build.log"))
        doc = self.report()
        b = next(b for b in doc["builds"] if b["id"].endswith(":build:kunit-um-patched"))
        self.assertEqual(b["status"], "MISS")
        self.assertEqual(self.by_build(doc, "kunit-um-patched"), [])


class KunitTest(Base):
    def test_cases_params_and_skip_reasons(self):
        doc = self.report()
        t, = self.find(doc, "kunit-um-base", "zsgate.kunit.zsmalloc.test_migration_keeps_location")
        self.assertEqual(t["status"], "PASS")
        t, = self.find(doc, "kunit-x86_64-base", "zsgate.kunit.zsmalloc.test_lookup_fallback_after_migration")
        self.assertEqual(t["status"], "SKIP")
        self.assertIn("ZS_OBJ_CLASS_BITS 9", t["misc"]["reason"])
        # a parameter: one test each, name sanitised, the raw name and its skip reason kept
        t, = self.find(doc, "kunit-um-base",
                       "zsgate.kunit.zsmalloc.test_encoding_roundtrip.pfn_0_low_end_obj_idx_0_class_idx_0_0")
        self.assertEqual(t["status"], "SKIP")
        self.assertEqual(t["misc"]["name"], "pfn 0 (low end), obj_idx 0, class_idx 0..0")
        self.assertIn("ZS_OBJ_CLASS_BITS is 0", t["misc"]["reason"])
        params = [t for t in self.by_build(doc, "kunit-x86_64-base")
                  if t["path"].startswith("zsgate.kunit.zsmalloc.test_encoding_roundtrip.")]
        self.assertEqual(len(params), 7)
        self.assertTrue(all(t["status"] == "PASS" for t in params))
        # every leaf of the good runs' kunit.py JSON is one test, same status
        for run in ("kunit-um-base", "kunit-x86_64-base"):
            leaves = kcidb.leaves(load(os.path.join(self.run, run + ".json")))
            tests = [t for t in self.by_build(doc, run) if t["path"].startswith("zsgate.kunit.zsmalloc.")]
            self.assertEqual(len(tests), len(leaves))
            self.assertEqual(sorted(t["status"] for t in tests), sorted(c["status"] for _, c in leaves))

    def test_crashed_run_names_its_missing_cases(self):
        doc = self.report()
        tests = {t["path"]: t for t in self.by_build(doc, "kunit-x86_64-patched")}
        for case in ("test_deferred_overflow", "test_deferred_flush_on_destroy", "test_deferred_enqueue_vs_drain"):
            self.assertEqual(tests["zsgate.kunit.zsmalloc." + case]["status"], "MISS", case)
        self.assertEqual(tests["zsgate.kunit.zsmalloc.test_free_migrate_race"]["status"], "PASS")
        self.assertFalse([p for p in tests if p.endswith(".unnamed") or "missing_" in p])
        self.assertEqual(tests["zsgate.kunit.console_clean"]["status"], "FAIL")
        self.assertIn("BUG: kernel NULL pointer dereference", tests["zsgate.kunit.console_clean"]["log_excerpt"])
        self.assertEqual(tests["zsgate.kunit.console_clean"]["comment"], "3 kernel splat line(s)")

    def test_crashed_run_without_siblings_counts_its_missing_cases(self):
        for run in ("kunit-um-base", "kunit-x86_64-base"):
            os.remove(os.path.join(self.run, run + ".json"))
        doc = self.report()
        miss = [t["path"] for t in self.by_build(doc, "kunit-x86_64-patched")
                if t["status"] == "MISS" and t["path"].startswith("zsgate.kunit.")]
        self.assertEqual(miss, [f"zsgate.kunit.zsmalloc.missing_{i}" for i in (1, 2, 3)])

    def test_built_but_no_results(self):
        os.remove(os.path.join(self.run, "kunit-x86_64-patched.json"))
        doc = self.report()
        self.assertEqual(kcidb.validate(doc), [])
        tests = {t["path"]: t["status"] for t in self.by_build(doc, "kunit-x86_64-patched")
                 if t["path"].startswith("zsgate.kunit")}
        self.assertEqual(tests["zsgate.kunit"], "ERROR")
        self.assertEqual(tests["zsgate.kunit.zsmalloc.test_deferred_overflow"], "MISS")
        self.assertEqual(tests["zsgate.kunit.zsmalloc.test_migration_keeps_location"], "MISS")
        self.assertNotIn("PASS", [s for p, s in tests.items() if p != "zsgate.kunit.console_clean"])


class VmTest(Base):
    def test_vm_cases(self):
        doc = self.report()
        t, = self.find(doc, "kunit-x86_64-base", "zsgate.vm.zram_free.munmap.mb64.latency")
        self.assertEqual(t["status"], "PASS")
        self.assertTrue(t["log_url"].endswith("/vm-x86_64-base.log"))
        t, = self.find(doc, "kunit-x86_64-base", "zsgate.vm.zram_free.race.fio_discard.swap_free")
        self.assertEqual((t["status"], t["misc"]["reason"]), ("SKIP", "fio not installed"))
        t, = self.find(doc, "kunit-um-base", "zsgate.vm")
        self.assertEqual(t["status"], "MISS")
        self.assertIn("no build stamp", t["misc"]["reason"])

    def test_hung_vm_run(self):
        doc = self.report()
        tests = {t["path"]: t for t in self.by_build(doc, "kunit-x86_64-patched") if t["path"].startswith("zsgate.vm")}
        self.assertEqual(tests["zsgate.vm"]["status"], "ERROR")
        self.assertIn("hang: no power-off", tests["zsgate.vm"]["log_excerpt"])
        self.assertEqual(tests["zsgate.vm.zram_free"]["status"], "FAIL")
        self.assertEqual(tests["zsgate.vm.zram_free.overflow.burst_no_leak"]["status"], "PASS")
        # what base ran and the hung run did not: MISS, zswap_free's cases included
        base = [t["path"] for t in self.by_build(doc, "kunit-x86_64-base")
                if t["path"].startswith("zsgate.vm.") and t["path"] != "zsgate.vm.console_clean"]
        for p in base:
            self.assertIn(p, tests)
        self.assertEqual(tests["zsgate.vm.zram_free.integrity.reuse_after_free"]["status"], "MISS")
        self.assertEqual(tests["zsgate.vm.zswap_free.race.writeback.swap_free"]["status"], "MISS")
        self.assertEqual(tests["zsgate.vm.console_clean"]["status"], "FAIL")


class AbTest(Base):
    def test_figures(self):
        doc = self.report()
        ab = load(os.path.join(self.run, "ab.json"))
        e = next(e for e in ab["entries"] if e["backend"] == "zram" and e["case"] == "munmap" and e["size_mb"] == 16)
        t, = self.find(doc, "kunit-x86_64-base", "zsgate.ab.zram.munmap.mb16.p1.median")
        self.assertEqual(t["status"], "DONE")
        self.assertEqual(t["number"], {"value": e["base"]["median_us"] / 1e6, "unit": "s", "prefix": "metric"})
        t, = self.find(doc, "kunit-x86_64-patched", "zsgate.ab.zram.munmap.mb16.p1.median")
        self.assertAlmostEqual(t["number"]["value"], e["patched"]["median_us"] / 1e6)
        t, = self.find(doc, "kunit-x86_64-patched", "zsgate.ab.zram.munmap.mb16.p1.speedup")
        self.assertEqual((t["status"], t["number"]), ("DONE", {"value": e["speedup"]}))
        self.assertEqual(t["misc"]["speedup_lo"], e["speedup_lo"])
        p = next(p for p in ab["pooled"] if p["backend"] == "zswap")
        t, = self.find(doc, "kunit-x86_64-patched", "zsgate.ab.zswap.pooled.speedup")
        self.assertEqual(t["number"], {"value": p["speedup"]})
        t, = self.find(doc, "kunit-x86_64-patched", "zsgate.ab")
        self.assertEqual(t["status"], "PASS")
        n = sum(1 for e in ab["entries"] for s in ("base", "patched") if e[s]["median_us"] is not None) \
            + sum(1 for e in ab["entries"] if e["speedup"] is not None) + len(ab["pooled"])
        self.assertEqual(len([t for t in doc["tests"] if t["status"] == "DONE"]), n)

    def test_regression_and_not_run(self):
        path = os.path.join(self.run, "ab.json")
        ab = load(path)
        ab["regressions"] = ["zram munmap 16 MB"]
        ab["entries"][0]["regression"] = True
        save(path, ab)
        t, = self.find(self.report(), "kunit-x86_64-patched", "zsgate.ab")
        self.assertEqual(t["status"], "FAIL")
        self.assertIn("regression: zram munmap 16 MB", t["log_excerpt"])
        save(path, {"arch": "x86_64", "labels": ["base", "patched"], "not_run": "patched: the last build failed",
                    "entries": [], "pooled": [], "regressions": [], "runs": [], "problems": []})
        doc = self.report()
        self.assertEqual(kcidb.validate(doc), [])
        self.assertFalse([t for t in doc["tests"] if t["status"] == "DONE"])
        t, = self.find(doc, "kunit-x86_64-patched", "zsgate.ab")
        self.assertEqual(t["status"], "MISS")


class CheckoutTest(Base):
    def test_patchset_hash_and_patch_names(self):
        sdir = os.path.join(self.tmp.name, "series")
        os.makedirs(sdir)
        texts = {"0001-a.patch": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
                 "0002-b.patch": "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+d\n"}
        for n, t in texts.items():
            with open(os.path.join(sdir, n), "w") as f:
                f.write(t)
        with open(os.path.join(sdir, "series"), "w") as f:
            f.write("0001-a.patch\n0002-b.patch\n")
        from zsgate.series import read_series
        meta_path = os.path.join(self.run, "meta.json")
        meta = load(meta_path)
        meta["series"] = {"kind": "quilt", "id": read_series(sdir).ident, "path": sdir}
        save(meta_path, meta)
        co = self.report()["checkouts"][0]
        # sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64 (KCIDB's definition)
        want = hashlib.sha256("".join(hashlib.sha256(texts[n].encode()).hexdigest() + "\n"
                                      for n in sorted(texts)).encode()).hexdigest()
        self.assertEqual(co["patchset_hash"], want)
        self.assertEqual(co["misc"]["series"]["patches"], ["0001-a.patch", "0002-b.patch"])
        self.assertIn("(2 patches)", co["comment"])
        # the series changed since the gate ran: no hash, and the report says why
        meta["series"]["id"] = "0123456789ab"
        save(meta_path, meta)
        co = self.report()["checkouts"][0]
        self.assertNotIn("patchset_hash", co)
        self.assertIn("not the gated 0123456789ab", co["misc"]["series_note"])

    def test_base_only_and_source(self):
        meta_path = os.path.join(self.run, "meta.json")
        meta = load(meta_path)
        meta["series"] = None
        save(meta_path, meta)
        co = self.report()["checkouts"][0]
        self.assertEqual(co["patchset_hash"], "")
        self.assertIn("linux-source-7.3 7.3~rc7-1~exp1", co["comment"])
        self.assertIn("base only", co["comment"])
        self.assertEqual(co["misc"]["kernel"]["version"], "7.3.0-rc7")


class CliTest(Base):
    def test_writes_valid_file(self):
        r = subprocess.run([os.path.join(CI, "kcidb"), self.run, "--base-url", "https://ci.example.org/runs/x/"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid KCIDB v5.3", r.stdout)
        doc = load(os.path.join(self.run, "kcidb.json"))
        self.assertEqual(kcidb.validate(doc), [])
        urls = [o["log_url"] for k in ("builds", "tests") for o in doc[k] if "log_url" in o]
        self.assertTrue(urls)
        self.assertTrue(all(re.match(r"^https://ci\.example\.org/runs/x/[\w.-]+$", u) for u in urls), urls[:3])
        r = subprocess.run([os.path.join(CI, "kcidb"), "--check", os.path.join(self.run, "kcidb.json")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_check_rejects_a_broken_file(self):
        doc = self.report()
        doc["tests"][0]["status"] = "OK"
        bad = os.path.join(self.tmp.name, "bad.json")
        save(bad, doc)
        r = subprocess.run([os.path.join(CI, "kcidb"), "--check", bad], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tests/0/status", r.stderr)

    def test_origin(self):
        r = subprocess.run([os.path.join(CI, "kcidb"), self.run, "--origin", "myfarm", "--out",
                            os.path.join(self.tmp.name, "k.json")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = load(os.path.join(self.tmp.name, "k.json"))
        for kind in ("checkouts", "builds", "tests"):
            for o in doc[kind]:
                self.assertEqual(o["origin"], "myfarm")
                self.assertTrue(o["id"].startswith(f"myfarm:{RUN_ID}"))
        self.assertTrue(all(t["path"].startswith("zsgate.") for t in doc["tests"]))
        r = subprocess.run([os.path.join(CI, "kcidb"), self.run, "--origin", "My-Farm"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    def test_usage(self):
        r = subprocess.run([os.path.join(CI, "kcidb"), self.tmp.name], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
