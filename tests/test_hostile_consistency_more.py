# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""More of the hostile catalogue of vapor.ops.consistency_check (issue 8): what a second hostile pass found.

Each case, like tests/test_hostile_consistency.py, asserts the one sentence (or the correct result) and that nothing
was published on failure and no input changed. The confirmation cases build a history of runs the way a hostile or
careless admin would (back-dated names and options, copies of other storage elements' runs, symbolic links) and
assert that nothing is confirmed that should not be.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

from test_hostile_consistency import (COMMON, DARK, DAY, LOST, World, assert_nothing_published, failed_stats_say,
                                      lines, run_case, snapshot, stamp)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _syncat(paths):
    return ('<?xml version="1.0"?><dump recorded="x"><entry-set>%s</entry-set></dump>\n'
            % "".join('<entry name="%s"><size>1</size></entry>' % p for p in paths))


def _set_storage(w, data):
    _write(w.storage, data)
    return {}


def check_normal(res, w):
    with open(res["files"]["dark"]) as f:
        assert f.read().splitlines() == sorted(DARK)
    with open(res["files"]["lost"]) as f:
        assert f.read().splitlines() == LOST
    assert res["stats"]["counts"]["storage_files"] == len(COMMON) + len(DARK)


# (id, setup(world) -> extra params, expected sentence (regex, whole message) or a check(result, world))
CASES = [
    # options the module's types let through only from the core (or through a future type change)
    ("confirm-days-nan", lambda w: {"confirm_days": float("nan")}, r"The confirm_days 'nan' is not a number of days\."),
    ("confirm-days-inf", lambda w: {"confirm_days": "1e400"}, r"The confirm_days '1e400' is not a number of days\."),
    ("confirm-runs-fraction", lambda w: {"confirm_runs": 2.5}, r"The confirm_runs 2\.5 is not a positive number of runs\."),
    ("max-dark-fraction-not-a-number", lambda w: {"max_dark_fraction": "abc"},
     r"The max_dark_fraction 'abc' is not a fraction between 0 and 1\."),
    ("min-age-nan", lambda w: {"min_age": float("nan")}, r"The min_age 'nan' is not a duration; .*"),
    # encodings
    ("syncat-with-utf8-bom", lambda w: _set_storage(w, b"\xef\xbb\xbf" + _syncat(COMMON + DARK).encode()),
     check_normal),
    ("syncat-in-utf16", lambda w: _set_storage(w, _syncat(COMMON + DARK).replace("?>", ' encoding="UTF-16"?>', 1)
                                               .encode("utf-16")), check_normal),
    ("text-in-utf16", lambda w: _set_storage(w, lines(COMMON + DARK).decode().encode("utf-16")),
     r"The storage_dump '{s}' is encoded in UTF-16 \(it starts with a UTF-16 byte order mark\); a text or cms dump "
     r"must be UTF-8\."),
    ("text-with-utf8-bom", lambda w: _set_storage(w, b"\xef\xbb\xbf" + lines(COMMON + DARK)), check_normal),
    ("catalogs-with-bom-and-mixed-line-ends", lambda w: (
        _write(w.before, b"\xef\xbb\xbf" + lines(COMMON[:3]).replace(b"\n", b"\r\n") + lines(COMMON[3:] + LOST)),
        _write(w.after, b"\xef\xbb\xbf" + lines(COMMON[:3]).replace(b"\n", b"\r\n") + lines(COMMON[3:] + LOST)),
        {})[-1], check_normal),
    # DuckDB skipped a carriage return that starts the file (found by the property test): the reader's sentence
    ("carriage-return-starting-the-file", lambda w: _set_storage(w, b"\r\x00\n" + lines(COMMON + DARK)),
     r"The storage_dump '{s}' is corrupt: line 1 holds a carriage return that does not end the line\."),
    ("carriage-return-starting-a-catalog", lambda w: (_write(w.after, b"\r" + lines(COMMON + LOST)), {})[1],
     r"The catalog_after '{a}' is corrupt: line 1 holds a carriage return that does not end the line\."),
]


def test_the_more_catalogue_has_distinct_ids():
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, setup, expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_more(tmp_path, case_id, setup, expect):
    w = World(tmp_path)
    extra = setup(w) or {}
    params = dict(w.params, **extra)
    ins = snapshot(w.dumps)
    run_case(w, params, expect, params["catalog_after"])
    assert snapshot(w.dumps) == ins, "an input changed"


def test_every_reader_skips_a_utf8_bom(tmp_path):
    """The Python reader (used by the other modules and as the engine's fallback) agrees with DuckDB."""
    p = tmp_path / "d"
    p.write_bytes(b"\xef\xbb\xbf/a\r\n/b\n")
    assert [e.path for e in read_dump(str(p))] == ["/a", "/b"]
    p.write_bytes(b"\xef\xbb\xbf" + _syncat(["/a"]).encode())
    assert [e.path for e in read_dump(str(p))] == ["/a"]


SMALL = "/tmp/vapor-hostile-small"


@pytest.fixture
def small_fs():
    """A 64 KiB tmpfs (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    os.makedirs(SMALL, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", SMALL]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield SMALL
    finally:
        subprocess.run(["umount", SMALL])
        shutil.rmtree(SMALL, ignore_errors=True)


def test_full_output_dir_is_one_sentence(tmp_path, small_fs):
    w = World(tmp_path)
    _write(w.storage, lines(COMMON + ["/store/dark/%06d_%s" % (i, "x" * 80) for i in range(2000)]))
    out = os.path.join(small_fs, "out")
    with pytest.raises(VaporError) as err:
        w.run(output_dir=out, max_dark_fraction=1)
    assert err.value.msg == "The output_dir '%s' cannot be written: No space left on device." % out
    assert os.listdir(out) in ([".lock"], [])


# ------------------------------------------------------------------------------------------------
# confirmation: back-dated dumps, runs of other prefixes, symbolic links in the history

def _three_dumps(w, k, t):
    """A genuine, distinct scan (one new file each time) with catalog dumps around time t."""
    s = w.write("scan%d" % k, lines(COMMON + DARK + ["/store/new/%d" % k]))
    b = w.write("catalog_%s" % stamp(t - 3600), lines(COMMON + LOST))
    a = w.write("catalog_%s" % stamp(t + 3600), lines(COMMON + LOST + ["/store/new/%d" % k]))
    return s, b, a


def _back_dated_name(w, s, t):
    new = os.path.join(w.dumps, "dump_%s" % stamp(t))
    os.rename(s, new)
    return new, {}


def _back_dated_option(w, s, t):
    return s, {"storage_dump_time": stamp(t)}


def _back_dated_mtime(w, s, t):
    os.utime(s, (t, t))                                 # touch -d
    return s, {}


@pytest.mark.parametrize("back_date", [_back_dated_name, _back_dated_option, _back_dated_mtime],
                         ids=["file-name", "storage_dump_time", "touch"])
def test_back_dated_dumps_compared_in_one_sitting_never_confirm(tmp_path, back_date):
    """Three distinct scans taken today, dated 31, 16 and 1 days back, compared within seconds (max_dump_age=0):
    their dump times span 30 days, but the runs were made in seconds."""
    w = World(tmp_path)
    res = None
    for k, age in enumerate((31, 16, 1)):
        t = w.now - age * DAY
        s, b, a = _three_dumps(w, k, t)
        s, extra = back_date(w, s, t)
        res = w.run(storage_dump=s, catalog_before=b, catalog_after=a, max_dump_age="0", confirm_runs=3,
                    confirm_days=25, run_id="r%d" % k, **extra)
    conf = res["stats"]["confirmation"]
    assert conf["runs"] == ["r0", "r1", "r2"] and conf["dump_times_span_days"] >= 29
    assert not res["confirmed"] and res["confirmed_dark"] == 0, conf
    assert conf["run_times_span_days"] < 1
    assert re.fullmatch(r"the 3 runs were made over 0\.0 days \(by the clock of the host\), less than "
                        r"confirm_days=25, whatever the times of their storage dumps", conf["reason"])
    with open(res["files"]["confirmed_dark"]) as f:
        assert f.read() == ""


def _history(w, mapping_extra=None):
    """Two runs made 31 and 16 days ago (their 'now' back then) over distinct dumps."""
    for k, age in enumerate((31, 16)):
        t = w.now - age * DAY
        s, b, a = _three_dumps(w, k, t)
        cc.run(dict(w.params, storage_dump=s, catalog_before=b, catalog_after=a, storage_dump_time=stamp(t),
                    confirm_runs=3, confirm_days=25, run_id="r%d" % k, **(mapping_extra or {})), now=t + 7200)


def test_runs_over_other_prefixes_do_not_count(tmp_path):
    """Run directories of another storage element (another prefix mapping) copied into OUTPUT_DIR by hand."""
    w = World(tmp_path)
    _history(w, {"strip_prefix": "/store"})
    res = w.run(confirm_runs=3, confirm_days=25)
    conf = res["stats"]["confirmation"]
    assert not res["confirmed"] and conf["runs"] == [res["run_id"]]
    assert [x["run"] for x in conf["skipped_runs"]] == ["r1", "r0"]
    assert conf["skipped_runs"][0]["reason"].startswith("compared with other prefix options (")
    # the same history with this run's prefixes confirms (the control)
    w2 = World(tmp_path / "control")
    _history(w2)
    res = w2.run(confirm_runs=3, confirm_days=25)
    assert res["confirmed"] and res["confirmed_dark"] == 2


def test_symlinked_run_directories_do_not_count(tmp_path):
    """Runs of another OUTPUT_DIR linked into this one."""
    elsewhere = World(tmp_path / "elsewhere")
    _history(elsewhere)
    w = World(tmp_path / "here")
    os.makedirs(w.out)
    for rid in ("r0", "r1"):
        os.symlink(os.path.join(elsewhere.out, rid), os.path.join(w.out, rid))
    res = w.run(confirm_runs=3, confirm_days=25)
    conf = res["stats"]["confirmation"]
    assert not res["confirmed"] and conf["runs"] == [res["run_id"]]
    assert conf["ignored_runs"] == [{"run": r, "reason": "a symbolic link, not a run directory of this output_dir"}
                                    for r in ("r0", "r1")]


# ------------------------------------------------------------------------------------------------
# a dump that changes while the run reads it

@pytest.mark.parametrize("how", ["appended", "replaced", "latest-link-moved"])
def test_a_dump_changed_during_the_run_is_refused(tmp_path, monkeypatch, how):
    """Fault injection: right after the engine read the dumps, the storage dump is appended to (a site still
    writing it), replaced by a newer dump renamed over it, or its 'latest' link moved on to a newer dump."""
    w = World(tmp_path)
    extra = {}
    if how == "latest-link-moved":
        link = os.path.join(w.dumps, "latest")
        os.symlink(os.path.basename(w.storage), link)
        extra["storage_dump"] = link
    real_compare = cc.compare

    def compare_then_change(*args, **kwargs):
        got = real_compare(*args, **kwargs)
        if how == "appended":
            with open(w.storage, "ab") as f:
                f.write(b"/store/mc/late_file.root\n")
        elif how == "replaced":
            newer = w.write("newer", lines(COMMON + DARK + ["/store/mc/late_file.root"]))
            os.rename(newer, w.storage)
        else:
            newer = w.write("dump_%s" % stamp(w.now - 60), lines(COMMON + DARK + ["/store/mc/late_file.root"]))
            os.unlink(link)
            os.symlink(os.path.basename(newer), link)
        return got

    monkeypatch.setattr(cc, "compare", compare_then_change)
    outs = snapshot(w.out)
    with pytest.raises(VaporError) as err:
        w.run(**extra)
    path = extra.get("storage_dump", w.storage)
    assert err.value.msg == ("The storage_dump '%s' changed while this run read it (it was replaced, written or "
                             "removed), so the comparison would mix two dumps; run again when the dump is complete."
                             % path)
    assert_nothing_published(w.out, outs)
    failed_stats_say(w.out, err.value.msg)


def test_a_lock_planted_as_a_symbolic_link_is_not_followed(tmp_path):
    w = World(tmp_path)
    os.makedirs(w.out)
    target = str(tmp_path / "elsewhere" / "created-through-the-link")
    os.makedirs(os.path.dirname(target))
    os.symlink(target, os.path.join(w.out, ".lock"))
    with pytest.raises(VaporError) as err:
        w.run()
    assert err.value.msg == ("The lock '%s' is a symbolic link, not a file this module made; remove it."
                             % os.path.join(w.out, ".lock"))
    assert not os.path.lexists(target)
    assert sorted(os.listdir(w.out)) == [".lock"]
