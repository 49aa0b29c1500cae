# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vapor.ops.consistency_check through ansible-playbook: check mode, a real run, a second run that confirms,
and a run stopped by a safety gate; the run directories are read back.

The dumps are written with the collection's own writers in the three formats and compressions a real
deployment meets: catalog dumps as catalog_dump writes them (text, gzip, with a companion list of
inactive replicas), the storage dump in the CMS pipe format named by day as se_dump publishes it.
"""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import companion_path, open_compressed_writer
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

DAY = 86400
COMMON = [f"/store/mc/common/{i:03d}.root" for i in range(300)]
DARK = ["/store/mc/dark with space.root", "/store/mc/ünïcödé-dark.root"]
LOST = ["/store/data/lost.root"]
REGISTERED_BETWEEN = ["/store/mc/new.root"]         # on storage and in catalog_after only: never dark
DELETED_BETWEEN = ["/store/mc/deleted.root"]        # in catalog_before only: never lost
BEING_POPULATED = ["/store/mc/populating.root"]     # on storage, inactive in catalog_after: never dark
IGNORED = ["/store/temp/transfer.root"]             # dark but ignored

PLAYBOOK = """
- name: Consistency check
  hosts: localhost
  gather_facts: false
  module_defaults:
    vapor.ops.consistency_check:
      catalog_before: "{{ cc_before }}"
      storage_dump: "{{ cc_storage }}"
      catalog_after: "{{ cc_after }}"
      output_dir: "{{ cc_out }}"
      storage_strip_prefix: /pnfs/example.org/data/vo
      ignore: ['^/store/temp/']
      min_age: 1h
      max_dark_fraction: 0.05
      confirm_runs: 2
      confirm_days: 0
  tasks:
    - name: Predict
      vapor.ops.consistency_check:
      check_mode: true
      register: predicted

    - name: First run
      vapor.ops.consistency_check:
        run_id: first

    - name: Second run on the same dumps
      vapor.ops.consistency_check:
        run_id: second

    - name: Third run on a newer storage dump
      vapor.ops.consistency_check:
        run_id: third
        storage_dump: "{{ cc_storage2 }}"

    - name: Run with a stricter gate
      vapor.ops.consistency_check:
        run_id: strict
        max_dark_fraction: 0.001
      ignore_errors: true
"""


def write_dump(path, paths, fmt="text", compression="none", mtime=None):
    with open(path, "wb") as raw:
        stream = open_compressed_writer(raw, compression)
        w = DumpWriter(stream, fmt, recorded="")
        for p in paths:
            assert w.add(p, 1000, mtime, "0000abcd") is None
        w.close()
        if stream is not raw:
            stream.close()
    return str(path)


def make_dumps(tmp_path):
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    def day(offset):
        return (today + datetime.timedelta(days=offset)).strftime("%Y%m%d")

    d = tmp_path / "dumps"
    d.mkdir()
    before = write_dump(d / f"catalog_{day(-2)}_120000.gz", COMMON + LOST + DELETED_BETWEEN, compression="gzip")
    write_dump(companion_path(before), [], compression="gzip")
    after = write_dump(d / f"catalog_{day(0)}_000000.gz", COMMON + LOST + REGISTERED_BETWEEN, compression="gzip")
    write_dump(companion_path(after), BEING_POPULATED, compression="gzip")
    old = int(today.timestamp()) - 10 * DAY
    on_storage = COMMON + DARK + REGISTERED_BETWEEN + BEING_POPULATED + IGNORED
    storage = write_dump(d / f"dump_{day(-1)}", ["/pnfs/example.org/data/vo" + p for p in on_storage],
                         fmt="cms", mtime=old)
    # a newer storage dump of the same storage element: the ignored file is gone
    write_dump(d / f"dump_{day(0)}_000000", ["/pnfs/example.org/data/vo" + p for p in on_storage if p not in IGNORED],
               fmt="cms", mtime=old)
    return before, storage, after


def after_day(after):
    return os.path.basename(after).split("_")[1]


def read_lines(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8").splitlines()


def test_consistency_check_playbook(tmp_path, run_playbook):
    before, storage, after = make_dumps(tmp_path)
    out = tmp_path / "runs"
    pb = tmp_path / "consistency.yml"
    pb.write_text(PLAYBOOK)
    storage2 = str(tmp_path / "dumps" / ("dump_%s_000000" % after_day(after)))
    res = run_playbook(pb, {"cc_before": before, "cc_storage": storage, "cc_after": after, "cc_out": str(out),
                            "cc_storage2": storage2}, inventory="local")

    expected_dark = ["/pnfs/example.org/data/vo" + p for p in DARK]
    expected_dark.sort(key=lambda s: s.encode("utf-8"))

    # check mode: the same figures, nothing written
    pred = res.result("Predict")
    assert pred["changed"] and (pred["dark"], pred["lost"]) == (2, 1), pred
    assert pred["stats"]["counts"]["excluded"] == {"dark_ignored": 1}
    assert pred["stats"]["run"]["check_mode"] is True

    # the real run: a complete run directory, read back
    first = res.result("First run")
    assert first["changed"] and first["run_dir"] == str(out / "first")
    assert read_lines(first["files"]["dark"]) == expected_dark
    assert read_lines(first["files"]["lost"]) == LOST
    assert read_lines(first["files"]["confirmed_dark"]) == []
    assert not first["confirmed"]
    with open(first["files"]["stats"]) as f:
        stats = json.load(f)
    assert stats["status"] == "ok"
    assert stats["counts"]["storage_files"] == len(COMMON) + 5
    assert stats["inputs"]["storage_dump"]["format"] == "cms"
    assert stats["inputs"]["storage_dump"]["time_until"] - stats["inputs"]["storage_dump"]["time"] == DAY
    assert stats["inputs"]["catalog_after"]["compression"] == "gzip"
    assert stats["inputs"]["catalog_after"]["companion"]["entries"] == 1
    assert set(stats["durations"]) >= {"probe", "read_storage_dump", "write_lists", "total"}

    # the same dumps again: the run counts once, nothing is confirmed (confirm_runs=2, confirm_days=0)
    second = res.result("Second run on the same dumps")
    assert not second["confirmed"] and read_lines(second["files"]["confirmed_dark"]) == []
    assert second["stats"]["confirmation"]["runs"] == ["second"]
    assert second["stats"]["confirmation"]["skipped_runs"] == [
        {"run": "first", "reason": "the same storage dump content (digest) as this run"}]
    # a newer, different storage dump confirms the dark files found by both dumps
    third = res.result("Third run on a newer storage dump")
    assert third["confirmed"] and read_lines(third["files"]["confirmed_dark"]) == expected_dark
    assert third["stats"]["confirmation"]["runs"] == ["first", "third"]

    # a safety gate: one sentence, the failed stats aside, no run directory
    strict = res.result("Run with a stricter gate")
    assert strict["_status"] == "failed"
    assert strict["msg"].startswith("The dark fraction 0.0066 (2 of 305 storage files) is above "
                                    "max_dark_fraction=0.001"), strict["msg"]
    assert strict["failed_stats"] == str(out / "strict.failed" / "stats.json")
    assert sorted(os.listdir(out)) == [".lock", "first", "second", "strict.failed", "third"]


def test_truncated_storage_dump_fails_cleanly(tmp_path, run_playbook):
    before, storage, after = make_dumps(tmp_path)
    with open(storage, "rb+") as f:
        f.truncate(os.path.getsize(storage) - 5)
    pb = tmp_path / "one.yml"
    pb.write_text(PLAYBOOK.split("  tasks:")[0] + "  tasks:\n    - name: Check\n      vapor.ops.consistency_check:\n")
    out = tmp_path / "runs"
    res = run_playbook(pb, {"cc_before": before, "cc_storage": storage, "cc_after": after, "cc_out": str(out)},
                       inventory="local", expect_failure=True)
    r = res.result("Check")
    assert r["msg"] == f"The storage_dump '{storage}' is truncated: its last line has no line end."
    assert [n for n in os.listdir(out) if not n.endswith(".failed") and n != ".lock"] == []
