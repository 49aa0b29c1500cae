# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hostile catalogue of vapor.ops.consistency_check (issue 8 sections 2-4): bad dumps, bad options, faults
and races, one table.

Each case builds its three dumps (text dumps named with times just before now, as catalog_dump and se_dump name
them), takes a snapshot of the input directory and of OUTPUT_DIR, runs the check and asserts

  (a) the one sentence (a regular expression over the whole message), or the correct result; and
  (b) that nothing was published that should not have been: on failure OUTPUT_DIR holds no run directory, no
      list and no temporary directory (only the lock and ``RUN_ID.failed/stats.json``); the inputs are unchanged.

Most cases call the module's core (``_consistency.run``, what the module runs). The cases a user meets first go
through ``ansible-playbook`` with the real module (PLAYBOOK_CASES); the unwritable ``output_dir`` runs as the
unprivileged user ``nobody`` (setpriv); concurrent runs are two processes.
"""

from __future__ import annotations

import bz2
import gzip
import json
import multiprocessing
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import companion_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = 86400
COMMON = ["/store/mc/file_%03d.root" % i for i in range(200)]
DARK = ["/store/mc/dark_1.root", "/store/user/dark 2.root"]
LOST = ["/store/data/lost.root"]


def stamp(t):
    return time.strftime("%Y%m%d_%H%M%S", time.gmtime(t))


def lines(paths):
    return "".join(p + "\n" for p in paths).encode("utf-8")


class World:
    """Three dumps around now and an OUTPUT_DIR; ``params`` is what the module would get."""

    def __init__(self, root, now=None):
        self.root = str(root)
        self.now = now or time.time()
        self.dumps = os.path.join(self.root, "dumps")
        os.makedirs(self.dumps, exist_ok=True)
        self.out = os.path.join(self.root, "out")
        self.before = self.write("catalog_%s" % stamp(self.now - 7200), lines(COMMON + LOST))
        self.storage = self.write("dump_%s" % stamp(self.now - 3600), lines(COMMON + DARK))
        self.after = self.write("catalog_%s" % stamp(self.now - 600), lines(COMMON + LOST))
        self.params = {"catalog_before": self.before, "storage_dump": self.storage, "catalog_after": self.after,
                       "output_dir": self.out, "temp_dir": os.path.join(self.root, "tmp"), "min_age": "0",
                       "max_dark_fraction": 0.05, "max_lost_fraction": 0.05}

    def write(self, name, data, mode="wb"):
        path = os.path.join(self.dumps, name)
        with open(path, mode) as f:
            f.write(data)
        return path

    def gz(self, name, data):
        return self.write(name, gzip.compress(data, mtime=0))

    def run(self, **extra):
        return cc.run(dict(self.params, **extra))


def snapshot(top):
    """Every entry under ``top``: relative path -> ('d', mode) or ('f', mode, content)."""
    out = {}
    if not os.path.exists(top):
        return out
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                with open(p, "rb") as f:
                    out[rel] = ("f", stat.S_IMODE(st.st_mode), f.read())
    return out


def assert_nothing_published(out, before):
    """After a failure: OUTPUT_DIR changed at most by the lock and RUN_ID.failed/stats.json."""
    after = snapshot(out)
    for rel in set(after) - set(before):
        top = rel.split(os.sep)[0]
        assert top == ".lock" or top.endswith(".failed"), "published after a failure: %s" % rel
        assert not rel.endswith(".list"), rel
        if top.endswith(".failed") and rel != top:
            assert rel == os.path.join(top, "stats.json"), rel
    for rel in before:
        if not rel.split(os.sep)[0].endswith(".failed") and rel != ".lock":
            assert after.get(rel) == before[rel], "changed: %s" % rel


def failed_stats_say(out, msg):
    found = []
    for name in os.listdir(out) if os.path.isdir(out) else []:
        if name.endswith(".failed"):
            with open(os.path.join(out, name, "stats.json")) as f:
                found.append(json.load(f)["message"])
    assert msg in found, (msg, found)


# ------------------------------------------------------------------------------------------------
# the cases: (id, setup(world) -> extra params, expected sentence (regex, whole message) or a check(result, world))

BIG = 10 * 1024 * 1024


def _storage(w, data):
    with open(w.storage, "wb") as f:
        f.write(data)
    return {}


def _dump_newer(w):
    os.rename(w.storage, os.path.join(w.dumps, "dump_%s" % stamp(w.now + 29 * DAY)))
    w.storage = os.path.join(w.dumps, "dump_%s" % stamp(w.now + 29 * DAY))
    after = os.path.join(w.dumps, "catalog_%s" % stamp(w.now + 30 * DAY))
    os.rename(w.after, after)
    return {"storage_dump": w.storage, "catalog_after": after}


def _companion_corrupt(w):
    with open(companion_path(w.after), "wb") as f:
        f.write(b"/x\n/y")
    return {}


def _syncat(w, body):
    os.unlink(w.storage)
    w.storage = w.write("dump_%s.xml" % stamp(w.now - 3600), body)
    return {"storage_dump": w.storage}


def _gz_storage(w, data):
    os.unlink(w.storage)
    w.storage = w.gz("dump_%s.gz" % stamp(w.now - 3600), data)
    return {"storage_dump": w.storage}


def _gz_truncated(w):
    extra = _gz_storage(w, lines(COMMON) * 20)
    with open(w.storage, "rb") as f:
        blob = f.read()
    with open(w.storage, "wb") as f:
        f.write(blob[:len(blob) // 2])
    return extra


def _bz2_corrupt(w):
    os.unlink(w.storage)
    blob = bytearray(bz2.compress(lines(COMMON + DARK) * 50))
    for i in range(len(blob) // 2, len(blob) // 2 + 40):
        blob[i] ^= 0x5A
    w.storage = w.write("dump_%s.bz2" % stamp(w.now - 3600), bytes(blob))
    return {"storage_dump": w.storage}


def _cms_storage(w, extra_line):
    body = b"".join(b"%s|100|1700000000|0000abcd\n" % p.encode() for p in COMMON + DARK) + extra_line
    return _storage(w, body)


def _outside_catalog(w):
    with open(w.before, "wb") as f:
        f.write(lines(["/other/vo" + p for p in COMMON]))
    return {}


def check_duplicates(res, w):
    """A storage dump concatenated twice: counted once, the duplicates reported, the same fraction."""
    counts = res["stats"]["counts"]
    assert counts["storage_files"] == len(COMMON) + len(DARK)
    assert counts["duplicates"]["storage_dump"] == len(COMMON) + len(DARK)
    assert res["dark"] == 2 and res["dark_fraction"] == pytest.approx(2.0 / (len(COMMON) + 2))
    assert res["stats"]["inputs"]["storage_dump"]["duplicates"] == len(COMMON) + 2


def check_dup_catalog(res, w):
    counts = res["stats"]["counts"]
    assert counts["catalog_before_available"] == len(COMMON) + 1 and counts["duplicates"]["catalog_before"] == 5
    assert res["lost_fraction"] == pytest.approx(1.0 / (len(COMMON) + 1))


def check_crlf_mixed(res, w):
    assert res["dark"] == 2 and res["stats"]["inputs"]["storage_dump"]["read_by"] == "python"


def check_relative(res, w):
    with open(res["files"]["dark"]) as f:
        assert f.read().splitlines() == sorted(DARK)


def check_nul(res, w):
    assert res["dark"] == 3


CASES = [
    ("empty-storage", lambda w: _storage(w, b""), r"The storage_dump '{s}' is empty: it lists no files, so nothing "
                                                 r"can be compared\."),
    ("blank-lines-storage", lambda w: _storage(w, b"\n\n\n"), r"The storage_dump '{s}' is empty: .*"),
    ("truncated-text", lambda w: _storage(w, lines(COMMON)[:-3]),
     r"The storage_dump '{s}' is truncated: its last line has no line end\."),
    ("truncated-gzip", _gz_truncated,
     r"The storage_dump '{s}' is truncated: its gzip stream ends before the end-of-stream marker\."),
    ("corrupt-bzip2", _bz2_corrupt, r"The storage_dump '{s}' is (corrupt|truncated): .*\."),
    ("garbage-ending-in-newline", lambda w: _storage(w, bytes(range(128, 256)) * 3 + b"\n"),
     r"The storage_dump '{s}' is corrupt: line 1 is not valid UTF-8\."),
    ("binary-with-control-bytes", lambda w: _storage(w, bytes(range(256)) * 3 + b"\n"),
     r"The storage_dump '{s}' is corrupt: line 2 holds a carriage return that does not end the line\."),
    ("invalid-utf8-line-5", lambda w: _storage(w, lines(COMMON[:4]) + b"/bad\xff\xfe\n" + lines(COMMON[4:])),
     r"The storage_dump '{s}' is corrupt: line 5 is not valid UTF-8\."),
    ("carriage-return-inside-a-line", lambda w: _storage(w, lines(COMMON) + b"/a\rb\n"),
     r"The storage_dump '{s}' is corrupt: line 201 holds a carriage return that does not end the line\."),
    ("mixed-line-ends-read-correctly", lambda w: _storage(w, lines(COMMON[:5]).replace(b"\n", b"\r\n") +
                                                          lines(COMMON[5:] + DARK)), check_crlf_mixed),
    ("nul-in-a-name-read-as-a-name", lambda w: _storage(w, lines(COMMON + DARK) + b"/a\x00b\n"), check_nul),
    ("duplicate-storage-lines", lambda w: _storage(w, lines(COMMON + DARK) * 2), check_duplicates),
    ("duplicate-catalog-lines", lambda w: (open(w.before, "ab").write(lines(COMMON[:5])), {})[1], check_dup_catalog),
    ("relative-paths", lambda w: _storage(w, lines([p[1:] for p in COMMON + DARK])), check_relative),
    ("last-line-of-10MB", lambda w: _storage(w, lines(COMMON + DARK) + b"/" + b"x" * BIG + b"\n"),
     r"The storage_dump '{s}' is corrupt: line 203 is longer than 65536 bytes, the longest line a dump may hold\."),
    ("middle-line-of-20MB", lambda w: _storage(w, lines(COMMON) + b"/" + b"y" * (2 * BIG) + b"\n" + lines(DARK)),
     r"The storage_dump '{s}' is corrupt: line 201 is longer than 65536 bytes, the longest line a dump may hold\."),
    ("long-line-in-gzip", lambda w: _gz_storage(w, b"/" + b"z" * (BIG // 2) + b"\n" + lines(COMMON)),
     r"The storage_dump '{s}' is corrupt: line 1 is longer than 65536 bytes, the longest line a dump may hold\."),
    ("long-line-in-catalog", lambda w: (open(w.after, "ab").write(b"/" + b"q" * 70000 + b"\n"), {})[1],
     r"The catalog_after '{a}' is corrupt: line 202 is longer than 65536 bytes, the longest line a dump may hold\."),
    ("dotdot-escaping-the-area", lambda w: _storage(w, lines(COMMON + ["/a/../../etc/passwd"])),
     r"The storage_dump '{s}' is refused: line 201 holds '/a/\.\./\.\./etc/passwd', which is not a normalised "
     r"absolute file path \(its '\.\.' component could name a file outside the area, so no reader accepts it\)\."),
    ("dotdot-inside-the-area", lambda w: _storage(w, lines(COMMON + ["/a/x/../3"])),
     r"The storage_dump '{s}' is refused: line 201 holds '/a/x/\.\./3', .*"),
    ("dotdot-in-catalog", lambda w: (open(w.before, "ab").write(b"store/../x\n"), {})[1],
     r"The catalog_before '{b}' is refused: line 202 holds 'store/\.\./x', .*"),
    ("dotdot-in-syncat", lambda w: _syncat(w, b'<?xml version="1.0"?><dump recorded="x"><entry-set>'
                                              b'<entry name="/a/.."><size>1</size></entry></entry-set></dump>'),
     r"The storage_dump '{s}' is refused: entry 1 \(line 1\) holds '/a/\.\.', .*"),
    ("syncat-not-closed", lambda w: _syncat(w, b'<?xml version="1.0"?><dump><entry-set><entry name="/a">'),
     r"The storage_dump '{s}' is truncated or corrupt: its XML is not well formed \(.*\)\."),
    ("malformed-cms-line", lambda w: _cms_storage(w, b"/broken|line\n"),
     r"The storage_dump '{s}' is not in the cms format: line 203 has not the four fields "
     r"path\|size\|mtime\|checksum\."),
    ("cms-line-without-path", lambda w: _cms_storage(w, b"|1|2|ad\n"),
     r"The storage_dump '{s}' is not in the cms format: line 203 has an empty path\."),
    ("truncated-companion", _companion_corrupt,
     r"The catalog_after companion '{a}\.inactive' is truncated: its last line has no line end\."),
    ("empty-catalog-before", lambda w: (open(w.before, "wb").close(), {})[1],
     r"The catalog_before '{b}' lists no available file under the catalog prefix '/' while the storage_dump lists "
     r"202, so lost files could not be detected; give a complete catalog dump\."),
    ("empty-catalog-after", lambda w: (open(w.after, "wb").close(), {})[1],
     r"The catalog_after '{a}' lists no available file under the catalog prefix '/' .*"),
    ("catalog-outside-the-prefix", _outside_catalog,
     r"The catalog_before '{b}' lists no available file under the catalog prefix '/store' .*"),
    ("storage-dump-29-days-after-the-run", _dump_newer,
     r"The storage_dump '.*' is from .*, after this run at .*; a dump cannot be newer than the run that reads it, "
     r"so its time is wrong\."),
    ("run-time-back-dated", lambda w: {"run_time": "2026-10-01T00:00:00Z"},
     r"The option run_time was removed: .*"),
    ("catalog-dumps-do-not-bracket", lambda w: {"catalog_before_time": stamp(w.now - 1800)},
     r"The catalog dumps do not bracket the storage dump in time: catalog_before .*"),
    ("storage-dump-too-old", lambda w: {"storage_dump_time": stamp(w.now - 8 * DAY),
                                        "catalog_before_time": stamp(w.now - 9 * DAY)},
     r"The storage_dump '{s}' is from .*, 8\.0 days before this run, older than max_dump_age=604800 seconds; use a "
     r"fresh dump\."),
    ("dark-fraction-above-threshold", lambda w: {"max_dark_fraction": 0.001},
     r"The dark fraction 0\.0099 \(2 of 202 storage files\) is above max_dark_fraction=0\.001, so the inputs look "
     r"wrong and no list was written\."),
    ("lost-fraction-above-threshold", lambda w: {"max_lost_fraction": 0.001},
     r"The lost fraction 0\.0050 \(1 of 201 available catalog files\) is above max_lost_fraction=0\.001, .*"),
    ("storage-outside-the-prefix", lambda w: {"storage_strip_prefix": "/nowhere"},
     r"None of the 202 entries of the storage_dump '{s}' is under the storage prefix '/nowhere', so nothing can be "
     r"compared\."),
    ("output-dir-is-a-file", lambda w: (open(w.out, "w").write("x"), {})[1],
     r"The output_dir '{o}' is not a directory; give the directory the runs are written to\."),
    ("missing-input", lambda w: {"catalog_after": w.after + ".nope"},
     r"The catalog_after '{a}\.nope' cannot be read: No such file or directory\."),
]
_prefixes = {"catalog-outside-the-prefix": {"catalog_strip_prefix": "/store"}}


def test_the_catalogue_is_big_enough():
    assert len({c[0] for c in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("case_id, setup, expect", CASES, ids=[c[0] for c in CASES])
def test_hostile(tmp_path, case_id, setup, expect):
    w = World(tmp_path)
    extra = setup(w) or {}
    extra.update(_prefixes.get(case_id, {}))
    params = dict(w.params, **extra)
    ins = snapshot(w.dumps)
    run_case(w, params, expect, w.after)
    if case_id == "output-dir-is-a-file":
        with open(w.out) as f:
            assert f.read() == "x"
    assert snapshot(w.dumps) == ins, "an input changed"
    assert not os.listdir(w.params["temp_dir"]) if os.path.isdir(w.params["temp_dir"]) else True


def run_case(w, params, expect, after):
    """One catalogue case: a result check, or the one sentence (``expect`` with {s}, {b}, {a}, {o} for the
    inputs' and output_dir's names) and nothing published in output_dir."""
    outs = snapshot(w.out)
    if callable(expect):
        res = cc.run(params)
        expect(res, w)
        assert os.path.isdir(res["run_dir"])
        return
    with pytest.raises(VaporError) as err:
        cc.run(params)
    msg = err.value.msg
    pattern = expect.format(s=re.escape(params["storage_dump"]), b=re.escape(params["catalog_before"]),
                            a=re.escape(after), o=re.escape(w.out))
    assert re.fullmatch(pattern, msg), msg
    assert "\n" not in msg
    if os.path.isdir(w.out):
        assert_nothing_published(w.out, outs)
        if "failed_stats" in err.value.context:
            failed_stats_say(w.out, msg)


# ------------------------------------------------------------------------------------------------
# confirmation: repeated runs, the same dump re-used under new dates

def test_repeated_runs_on_the_same_dumps_never_confirm(tmp_path):
    """The issue's reproducer: three runs within seconds on the same dumps (run_time cannot be given any more)."""
    w = World(tmp_path)
    results = [w.run(confirm_runs=3, confirm_days=0) for _ in range(3)]
    assert [r["run_id"] for r in results][1:] == [results[0]["run_id"] + "_1", results[0]["run_id"] + "_2"] or \
        len({r["run_id"] for r in results}) == 3
    last = results[-1]
    assert not last["confirmed"] and last["confirmed_dark"] == 0
    assert len(last["stats"]["confirmation"]["skipped_runs"]) == 2
    with open(last["files"]["confirmed_dark"]) as f:
        assert f.read() == ""


def test_the_same_dump_copied_under_new_dates_never_confirms(tmp_path):
    """A storage dump copied under three dates 15 days apart: one digest, so one run counts."""
    w = World(tmp_path)
    data = open(w.storage, "rb").read()
    res = None
    for k, age in enumerate((31, 16, 1)):
        t = w.now - age * DAY
        s = w.write("dump_%s" % stamp(t), data)
        b = w.write("catalog_%s" % stamp(t - 3600), lines(COMMON + LOST))
        a = w.write("catalog_%s" % stamp(t + 3600), lines(COMMON + LOST))
        res = w.run(storage_dump=s, catalog_before=b, catalog_after=a, max_dump_age="0", confirm_runs=3,
                    confirm_days=25, run_id="r%d" % k)
    conf = res["stats"]["confirmation"]
    assert not res["confirmed"] and conf["runs"] == ["r2"]
    assert sorted(x["run"] for x in conf["skipped_runs"]) == ["r0", "r1"]


def test_distinct_dumps_over_the_window_confirm(tmp_path):
    w = World(tmp_path)
    res = None
    for k, age in enumerate((31, 16, 1)):
        t = w.now - age * DAY
        s = w.write("dump_%s" % stamp(t), lines(COMMON + DARK + ["/store/new/%d" % k]))
        b = w.write("catalog_%s" % stamp(t - 3600), lines(COMMON + LOST))
        a = w.write("catalog_%s" % stamp(t + 3600), lines(COMMON + LOST + ["/store/new/%d" % k]))
        # each run made when its dump was fresh (the runs' own times must span confirm_days too)
        res = cc.run(dict(w.params, storage_dump=s, catalog_before=b, catalog_after=a, confirm_runs=3,
                          confirm_days=25, run_id="r%d" % k), now=t + 7200)
    assert res["confirmed"] and res["confirmed_dark"] == 2
    assert res["stats"]["confirmation"]["runs"] == ["r0", "r1", "r2"]


# ------------------------------------------------------------------------------------------------
# concurrency and permissions

def _one_run(params, now, queue):
    try:
        res = cc.run(params, now=now)
        queue.put(("ok", res["run_id"]))
    except VaporError as exc:
        queue.put(("error", exc.msg))


def test_two_runs_in_the_same_second_both_succeed(tmp_path):
    w = World(tmp_path)
    now = int(w.now)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_one_run, args=(w.params, now, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [g[0] for g in got] == ["ok", "ok"], got
    base = time.strftime("%Y%m%d_%H%M%S", time.gmtime(now))
    assert sorted(g[1] for g in got) == [base, base + "_1"]
    assert sorted(os.listdir(w.out)) == [".lock", base, base + "_1"]
    for rid in (base, base + "_1"):
        assert sorted(os.listdir(os.path.join(w.out, rid))) == ["confirmed_dark.list", "dark.list", "lost.list",
                                                                "stats.json"]


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to nobody")
def test_unwritable_output_dir_as_an_unprivileged_user():
    root = tempfile.mkdtemp(prefix="vapor-hostile-")
    try:
        os.chmod(root, 0o755)
        w = World(root)
        for p in (w.dumps, w.before, w.storage, w.after):
            os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
        os.makedirs(w.out)
        os.chmod(w.out, 0o755)                      # root's: nobody cannot write here
        outs = snapshot(w.out)
        params = dict(w.params, temp_dir=os.path.join(root, "tmp-nobody"))
        os.makedirs(params["temp_dir"])
        os.chown(params["temp_dir"], NOBODY, NOBODY)
        code = ("import json, sys; sys.path.insert(0, %r)\n"
                "from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc\n"
                "from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError\n"
                "try:\n    cc.run(json.loads(sys.argv[1])); print('ok')\n"
                "except VaporError as e:\n    print(e.msg)\n" % os.path.join(REPO, "collections"))
        proc = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                               sys.executable, "-c", code, json.dumps(params)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        assert proc.stdout.strip() == "The output_dir '%s' cannot be written: Permission denied." % w.out, \
            proc.stdout + proc.stderr
        assert snapshot(w.out) == outs
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# through ansible-playbook, as a user meets them

PLAYBOOK = """
- name: Consistency check
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check
      vapor.ops.consistency_check: "{{ cc_params }}"
"""

PLAYBOOK_CASES = [
    ("playbook-run-time-is-gone", lambda w: {"run_time": "2026-10-01T00:00:00Z"},
     r"Unsupported parameters for \(.*consistency_check\) module: run_time\..*"),
    ("playbook-storage-dump-newer-than-run", _dump_newer,
     r"The storage_dump '.*' is from .*, after this run at .*; a dump cannot be newer than the run that reads it, "
     r"so its time is wrong\."),
    ("playbook-dotdot-in-dump", lambda w: _storage(w, lines(COMMON + ["/a/../../etc/passwd"])),
     r"The storage_dump '{s}' is refused: line 201 holds '/a/\.\./\.\./etc/passwd', .*"),
    ("playbook-long-last-line", lambda w: _storage(w, lines(COMMON + DARK) + b"/" + b"x" * BIG + b"\n"),
     r"The storage_dump '{s}' is corrupt: line 203 is longer than 65536 bytes, the longest line a dump may hold\."),
    ("playbook-garbage", lambda w: _storage(w, bytes(range(128, 256)) * 3 + b"\n"),
     r"The storage_dump '{s}' is corrupt: line 1 is not valid UTF-8\."),
    ("playbook-empty-catalog", lambda w: (open(w.after, "wb").close(), {})[1],
     r"The catalog_after '{a}' lists no available file under the catalog prefix '/' .*"),
    ("playbook-output-dir-is-a-file", lambda w: (open(w.out, "w").write("x"), {})[1],
     r"The output_dir '{o}' is not a directory; give the directory the runs are written to\."),
]


@pytest.mark.parametrize("case_id, setup, expect", PLAYBOOK_CASES, ids=[c[0] for c in PLAYBOOK_CASES])
def test_hostile_through_ansible_playbook(tmp_path, run_playbook, case_id, setup, expect):
    w = World(tmp_path)
    extra = setup(w) or {}
    ins, outs = snapshot(w.dumps), snapshot(w.out)
    params = dict(w.params, **extra)
    pb = tmp_path / "cc.yml"
    pb.write_text(PLAYBOOK)
    res = run_playbook(pb, {"cc_params": params}, inventory="local", expect_failure=True)
    msg = res.result("Check")["msg"]
    pattern = expect.format(s=re.escape(params["storage_dump"]), b=re.escape(params["catalog_before"]),
                            a=re.escape(w.after), o=re.escape(w.out))
    assert re.fullmatch(pattern, msg, re.DOTALL), msg
    if os.path.isdir(w.out):
        assert_nothing_published(w.out, outs)
    assert snapshot(w.dumps) == ins


def test_repeated_runs_through_ansible_playbook_never_confirm(tmp_path, run_playbook):
    w = World(tmp_path)
    pb = tmp_path / "cc.yml"
    pb.write_text(PLAYBOOK.replace("    - name: Check\n      vapor.ops.consistency_check: \"{{ cc_params }}\"\n",
                                   "".join("    - name: Run %d\n      vapor.ops.consistency_check: \"{{ cc_params }}\"\n"
                                           "      register: r%d\n" % (i, i) for i in range(3))))
    res = run_playbook(pb, {"cc_params": dict(w.params, confirm_runs=3, confirm_days=0)}, inventory="local")
    runs = [res.result("Run %d" % i) for i in range(3)]
    assert len({r["run_id"] for r in runs}) == 3
    assert not runs[-1]["confirmed"] and runs[-1]["confirmed_dark"] == 0
