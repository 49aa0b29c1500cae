# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The DPM scanner's fast path (MariaDB formats each record's tail, Python joins whole chunks) must
write exactly the dump, and return exactly the figures, of the row-by-row path, on a real MariaDB.

The namespace mixes clean files with every case that must leave the fast path: names holding '|',
a line break or a CR; adler32 values that are upper-case, short, 'ad:'-prefixed, garbage, NULL or
empty; other checksum types; a checksum only in DOME's xattr JSON; files outside the roots and
outside strip_prefix. FETCH is lowered so that clean and unusual chunks alternate.
"""

import gc

import pytest

import seed
from ansible_collections.vapor.ops.plugins.module_utils._clients import db as _db
from ansible_collections.vapor.ops.plugins.module_utils._storage import dpm as _scan_db
from ansible_collections.vapor.ops.plugins.module_utils._storage import nsdb as _nsdb
from ansible_collections.vapor.ops.plugins.module_utils._storage import sink as _scan
from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump as _se_dump

TOP = "/dpm/ex.org/home/vo"
OLD = 1700000000

ODD = [
    ("a/upper", 1, OLD, "AD", "3EB13B90"),
    ("a/short", 2, OLD, "AD", "1f"),
    ("a/prefixed", 3, OLD, "AD", "ad:0000001f"),
    ("a/garbage", 4, OLD, "AD", "zz|z\nzzz"),
    ("a/empty", 5, OLD, "AD", ""),
    ("a/md5", 6, OLD, "MD", "d41d8cd98f00b204e9800998ecf8427e"),
    ("a/none", 7, OLD, "", ""),
    ("b/pi|pe", 8, OLD, "AD", "0a1b2c3d"),
    ("b/new\nline", 9, OLD, "AD", "0a1b2c3d"),
    ("b/cr\rx", 10, OLD, "AD", "0a1b2c3d"),
    ("b/\u00fcn\u00ef c\u00f8d\u00e9", 11, OLD, "AD", "0a1b2c3d"),
    ("c/dome-only", 12, OLD, "", ""),
    ("d|ir/f", 13, OLD, "AD", "0a1b2c3e"),          # directories the cms format cannot carry
    ("new\nline dir/f", 14, OLD, "AD", "0a1b2c3e"),
    ("e/no-size", 15, OLD, "AD", "0a1b2c3f"),       # filesize NULL
    ("e/link", 16, OLD, "AD", "0a1b2c40"),          # made a symlink: never a file of the dump
    ("e/sp ace", 17, OLD, "AD", "0A1B2C41"),
    ("e/hex-lf", 18, OLD, "AD", "0a1b\n2c3"),       # hex digits and a line break, 8 characters
]
UNREPRESENTABLE = {"cms": 5, "text": 3}


@pytest.fixture(scope="module", params=["unsigned", "signed"])
def namespace(mariadb, request):
    name = "cns_fastpath_" + request.param
    mariadb.create_database(name, schema=seed.CNS_SCHEMA)
    files = []
    for i in range(60):                 # clean chunks between the unusual ones
        files.append(("%s/clean/d%02d/f%03d.root" % (TOP, i % 7, i), 1000 + i, OLD + i, "AD", "%08x" % (i * 7919)))
    files[10:10] = [("%s/%s" % (TOP, rel), s, m, t, v) for rel, s, m, t, v in ODD]
    files.append(("%s2/other/x.root" % TOP, 99, OLD, "AD", "00000001"))          # a second root
    files.append(("/dpm/ex.org/home/elsewhere/y.root", 98, OLD, "AD", "00000002"))  # outside every root
    seed.seed_dpm(mariadb, name, files)
    mariadb.execute("UPDATE Cns_file_metadata SET csumvalue = NULL WHERE name = 'empty'", db=name)
    mariadb.execute("UPDATE Cns_file_metadata SET xattr = '{\"checksum.adler32\": \"00c0ffee\"}' "
                    "WHERE name = 'dome-only'", db=name)
    mariadb.execute("UPDATE Cns_file_metadata SET filesize = NULL WHERE name = 'no-size'", db=name)
    mariadb.execute("UPDATE Cns_file_metadata SET filemode = %d WHERE name = 'link'" % 0o120777, db=name)
    if request.param == "signed":   # some DPM schemas: a signed filesize (MariaDB must not widen it to DECIMAL)
        mariadb.execute("ALTER TABLE Cns_file_metadata MODIFY filesize BIGINT", db=name)
    yield mariadb.conninfo(name)
    mariadb.drop_database(name)


def _dump(tmp_path, db, opts, fast, monkeypatch, driver="mysqldb"):
    dest = tmp_path / ("fast" if fast else "rows")
    dest.mkdir(exist_ok=True)
    monkeypatch.setattr(_nsdb, "FETCH", 5)
    if driver == "pymysql":
        monkeypatch.setattr(_db, "HAS_MYSQLDB", False)
    if not fast:
        monkeypatch.setattr(_scan.EntrySink, "preformat", lambda self: None)
    params = dict(source="dpm", db={k: db[k] for k in ("host", "port", "user", "password")},
                  dest=str(dest), compression="none", **opts)
    params["db"]["database"] = db["database"]
    res = _se_dump.run(params, now=OLD + 86400)
    monkeypatch.undo()
    with open(res["dump"], "rb") as f:
        data = f.read()
    for key in ("dump", "latest", "duration", "diff"):
        res.pop(key, None)
    res["roots"] = [dict(r, duration=None) for r in res["roots"]]
    res["rate"] = dict(res["rate"], seconds=None, per_second=None)     # the count stays, the time goes
    return data, res


@pytest.mark.parametrize("fmt", ["cms", "text"])
@pytest.mark.parametrize("opts", [
    {},
    {"roots": [TOP]},
    {"roots": [TOP, TOP + "2"]},
    {"roots": [TOP], "strip_prefix": TOP + "/clean"},
    {"roots": [TOP], "strip_prefix": TOP, "add_prefix": "root://se.ex.org:1094//vo"},
], ids=["everything", "one-root", "two-roots", "strip-outside", "strip-add"])
@pytest.mark.parametrize("driver", ["mysqldb", "pymysql"])
def test_fast_path_writes_what_the_row_path_writes(tmp_path, namespace, monkeypatch, fmt, opts, driver):
    opts = dict(opts, format=fmt)
    written = []
    real = _scan.EntrySink.add_text
    monkeypatch.setattr(_scan.EntrySink, "add_text", lambda self, *a: written.append(a[2]) or real(self, *a))
    fast, fast_res = _dump(tmp_path, namespace, opts, True, monkeypatch, driver)
    assert sum(written) > 40        # most clean chunks took the fast path
    rows, rows_res = _dump(tmp_path, namespace, opts, False, monkeypatch, driver)
    assert fast.decode("utf-8").splitlines() and fast_res["files"] > 0
    # rows that leave the fast path are written after the others: the same lines, maybe in another order
    assert sorted(fast.split(b"\n")) == sorted(rows.split(b"\n"))
    assert fast_res == rows_res


def test_fast_path_normalises_and_excludes_like_the_rows(tmp_path, namespace, monkeypatch):
    data, res = _dump(tmp_path, namespace, {"roots": [TOP], "format": "cms"}, True, monkeypatch)
    lines = dict(line.rsplit("|", 3)[0:1] + [line] for line in data.decode("utf-8").splitlines())
    assert lines[TOP + "/a/upper"].endswith("|3eb13b90")
    assert lines[TOP + "/a/short"].endswith("|0000001f")
    assert lines[TOP + "/a/prefixed"].endswith("|0000001f")
    assert lines[TOP + "/a/garbage"].endswith("|N/A")
    assert lines[TOP + "/a/empty"].endswith("|N/A")
    assert lines[TOP + "/a/md5"].endswith("|N/A")
    assert lines[TOP + "/c/dome-only"].endswith("|00c0ffee")
    assert lines[TOP + "/b/\u00fcn\u00ef c\u00f8d\u00e9"] == TOP + "/b/\u00fcn\u00ef c\u00f8d\u00e9|11|%d|0a1b2c3d" % OLD
    assert lines[TOP + "/e/no-size"] == TOP + "/e/no-size|0|%d|0a1b2c3f" % OLD
    assert lines[TOP + "/e/sp ace"].endswith("|0a1b2c41")
    assert TOP + "/e/link" not in lines
    # '|', a line break and a CR cannot be carried by cms, in a file name or a directory name:
    # left out and counted
    assert not any("pi|pe" in k or "new" in k or "cr" in k or "d|ir" in k for k in lines)
    assert res["excluded"]["unrepresentable"] == UNREPRESENTABLE["cms"]
    assert res["files"] == 60 + len(ODD) - UNREPRESENTABLE["cms"] - 1
    assert lines[TOP + "/e/hex-lf"].endswith("|N/A")
    assert res["bytes"] == sum(1000 + i for i in range(60)) + sum(range(1, 19)) - (8 + 9 + 10 + 13 + 14) - 15 - 16


def test_the_scan_runs_without_the_cyclic_collector_and_restores_it(tmp_path, namespace, monkeypatch):
    seen = []
    real = _scan_db._DpmLines.feed
    monkeypatch.setattr(_scan_db._DpmLines, "feed", lambda self, rows: seen.append(gc.isenabled()) or real(self, rows))
    assert gc.isenabled()
    _dump(tmp_path, namespace, {"roots": [TOP], "format": "cms"}, True, monkeypatch)
    assert seen and not any(seen)
    assert gc.isenabled()


def test_text_format_carries_a_pipe_in_a_directory_name(tmp_path, namespace, monkeypatch):
    data, res = _dump(tmp_path, namespace, {"roots": [TOP], "format": "text"}, True, monkeypatch)
    names = data.decode("utf-8").splitlines()
    assert TOP + "/d|ir/f" in names and TOP + "/b/pi|pe" in names
    assert res["excluded"]["unrepresentable"] == UNREPRESENTABLE["text"]
    assert res["files"] == 60 + len(ODD) - UNREPRESENTABLE["text"] - 1


def _insert(mariadb, db, rows):
    """rows: (rowid, fileid, parent_fileid, name, is_dir, size, adler32) in the table's physical order."""
    mariadb.executemany(
        "INSERT INTO Cns_file_metadata (rowid, fileid, parent_fileid, name, filemode, nlink, owner_uid, gid, "
        "filesize, atime, mtime, ctime, fileclass, status, csumtype, csumvalue) "
        "VALUES (%s, %s, %s, %s, %s, 1, 0, 0, %s, 0, %s, 0, 0, '-', %s, %s)",
        [(rowid, fid, pid, name, 0o40755 if is_dir else 0o100644, size, OLD, "" if is_dir else "AD", csum or "")
         for rowid, fid, pid, name, is_dir, size, csum in rows], db=db)


@pytest.fixture(scope="module")
def moved(mariadb):
    """Directories whose rows come after their files' rows (moved directories), an orphan and a loop."""
    name = "cns_moved"
    mariadb.create_database(name, schema=seed.CNS_SCHEMA)
    _insert(mariadb, name, [
        (1, 1, 0, "/", True, 0, None),
        (2, 2, 1, "dpm", True, 0, None),
        (3, 3, 2, "vo", True, 0, None),
        (4, 10, 3, "early", True, 0, None),
        (5, 11, 10, "e1", False, 1, "00000001"),
        (6, 12, 30, "m1", False, 2, "00000002"),     # in 30, whose row comes later
        (7, 13, 31, "m2", False, 3, "00000003"),     # in 31, under 30
        (8, 14, 31, "m3", False, 4, "00000004"),
        (9, 15, 99, "o1", False, 5, "00000005"),     # in 40, an orphan directory
        (10, 16, 41, "l1", False, 6, "00000006"),    # in 41, part of a loop
        (11, 31, 30, "sub", True, 0, None),          # child row before its parent's row
        (12, 30, 3, "moved", True, 0, None),
        (13, 40, 99, "orphan", True, 0, None),       # parent 99 never exists
        (14, 41, 42, "loop-a", True, 0, None),
        (15, 42, 41, "loop-b", True, 0, None),
        (16, 17, 30, "m4", False, 7, "00000007"),
        (17, 50, 1, "other", True, 0, None),         # outside the root
        (18, 18, 50, "x", False, 8, "00000008"),
    ])
    yield mariadb.conninfo(name)
    mariadb.drop_database(name)


@pytest.mark.parametrize("fmt", ["cms", "syncat"])
@pytest.mark.parametrize("limit", [100000, 1], ids=["in-memory", "spilled"])
def test_files_of_moved_directories_wait_for_their_directory(tmp_path, moved, monkeypatch, fmt, limit):
    monkeypatch.setattr(_scan_db, "PENDING_LIMIT", limit)
    spills = []
    real = _scan_db.tempfile.TemporaryFile
    monkeypatch.setattr(_scan_db.tempfile, "TemporaryFile", lambda **kw: spills.append(kw) or real(**kw))
    data, res = _dump(tmp_path, moved, {"roots": ["/dpm/vo"], "format": fmt}, True, monkeypatch)
    assert bool(spills) == (limit == 1)
    text = data.decode("utf-8")
    for path in ("/dpm/vo/early/e1", "/dpm/vo/moved/m1", "/dpm/vo/moved/sub/m2", "/dpm/vo/moved/sub/m3",
                 "/dpm/vo/moved/m4"):
        assert path in text
    for name in ("o1", "l1", "/x"):
        assert name not in text
    assert res["files"] == 5 and res["bytes"] == 1 + 2 + 3 + 4 + 7


def test_missing_root_fails_before_the_scan(tmp_path, moved, monkeypatch):
    monkeypatch.setattr(_scan_db.DirTree, "add", lambda *a: pytest.fail("the table was scanned"))
    with pytest.raises(_se_dump.VaporError, match="The root '/dpm/vo/nope' is not a directory"):
        _dump(tmp_path, moved, {"roots": ["/dpm/vo/nope"], "format": "cms"}, True, monkeypatch)
    with pytest.raises(_se_dump.VaporError, match="The root '/dpm/vo/early/e1' is not a directory"):
        _dump(tmp_path, moved, {"roots": ["/dpm/vo/early/e1"], "format": "cms"}, True, monkeypatch)


@pytest.mark.parametrize("fmt", ["cms", "text"])
def test_names_that_are_not_utf8_take_the_row_path(tmp_path, mariadb, monkeypatch, fmt):
    """A binary name column hands out bytes as stored: invalid UTF-8 is counted, never written."""
    name = "cns_binary_" + fmt
    mariadb.create_database(name, schema=seed.CNS_SCHEMA)
    try:
        mariadb.execute("ALTER TABLE Cns_file_metadata MODIFY name VARBINARY(255)", db=name)
        _insert(mariadb, name, [
            (1, 1, 0, "/", True, 0, None),
            (2, 2, 1, "vo", True, 0, None),
            (3, 3, 2, "good", False, 1, "00000001"),
            (4, 4, 2, "bad", False, 2, "00000002"),
            (5, 5, 2, "caf\u00e9", False, 4, "00000004"),
        ])
        mariadb.execute("UPDATE Cns_file_metadata SET name = UNHEX('626164ff') WHERE fileid = 4", db=name)
        db = mariadb.conninfo(name)
        fast, fast_res = _dump(tmp_path, db, {"roots": ["/vo"], "format": fmt}, True, monkeypatch)
        rows, rows_res = _dump(tmp_path, db, {"roots": ["/vo"], "format": fmt}, False, monkeypatch)
    finally:
        mariadb.drop_database(name)
    assert sorted(fast.split(b"\n")) == sorted(rows.split(b"\n"))
    assert fast_res == rows_res
    assert fast_res["files"] == 2 and fast_res["excluded"]["unrepresentable"] == 1
    assert "/vo/caf\u00e9".encode("utf-8") in fast and b"bad" not in fast
