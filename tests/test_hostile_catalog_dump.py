# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Hostile catalogue (issue 8 §4), catalog_dump and catalog_entries_info: what the catalog dump lists must be every
replica the cleanups' re-check (Catalog.find_replicas) recognises on the selected storage element, on a real MariaDB
cns_db and on the SQLite catalog; bad catalogs end in one sentence and publish nothing.

Each case is a function of a Ctx (tmp_path, request); cases on both back ends loop over them.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time

import pytest

import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import dump as cat_dump
from ansible_collections.vapor.ops.plugins.module_utils._catalog import entries as cat_entries
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

OLD = int(time.time()) - 60 * 86400
SE = "se.demo.example"
SRM = f"srm://{SE}:8446/srm/managerv2?SFN="
_n = itertools.count()


class Ctx:
    def __init__(self, tmp_path, request):
        self.tmp = tmp_path
        self.request = request

    def spec(self, backend):
        if backend == "sqlite":
            path = str(self.tmp / ("c%d.db" % next(_n)))
            cat_schema.create_sqlite_catalog(path)
            return {"backend": "sqlite", "path": path}
        mariadb = self.request.getfixturevalue("mariadb")
        dbname = "cns_h4_%d_%d" % (os.getpid(), next(_n))
        mariadb.create_database(dbname, schema=seed.CNS_SCHEMA)
        self.request.addfinalizer(lambda: mariadb.drop_database(dbname))
        seed.seed_dpm(mariadb, dbname, [])
        return {"backend": "mysql", "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
                "password": mariadb.password, "database": dbname}

    def dest(self):
        d = self.tmp / ("dumps%d" % next(_n))
        d.mkdir()
        return d


def fill(spec, reps):
    """reps: [(host, sfn, status)], one file each (the usual-form anchor first)."""
    with cat_access.open_catalog(spec) as c:
        c.register_file("/grid/anchor%d" % next(_n), 1, OLD, None, [(SE, SRM + "/vo/anchor/good.root", "-")])
        for host, sfn, status in reps:
            c.register_file("/grid/f%d" % next(_n), 7, OLD, None, [(host, sfn, status)])


def dump_and_compare(ctx, spec, selection, fmt="text", expect_inactive=()):
    """catalog_dump, then for every replica row the re-check recognises: its path is in the dump or companion."""
    dest = ctx.dest()
    res = cat_dump.run_catalog_dump(dict(selection, catalog=spec, dest=str(dest), strip_prefix="/vo", format=fmt))
    listed = set(e.path for e in read_dump(res["dump"], fmt))
    inactive = set(e.path for e in read_dump(res["inactive_list"], "text"))
    mapping = cat_sfn.SfnMapping(selection.get("se"), "/vo", None, selection.get("sfn_prefix"))
    recognised = set()
    with cat_access.open_catalog(spec) as c:
        index = cat_sfn.ReplicaIndex(mapping).build(c)
        for (sfn,) in c.all("SELECT sfn FROM Cns_file_replica"):
            path = mapping.dump_path(to_text(sfn))[0]
            try:
                (path or "").encode("utf-8")
            except UnicodeEncodeError:      # no dump (storage or dark list) can name it: never re-checked
                continue
            if path and c.find_replicas(path, mapping, index)[0]:
                recognised.add(path)
    missing = sorted(recognised - listed - inactive)
    assert not missing, "recognised by the re-check but missing from the catalog dump: %s" % missing
    for p in expect_inactive:
        assert p in inactive and p not in listed, p
    return res, listed, inactive


ODD_SPELLINGS = [
    (SE, SRM + "/vo//store/a1.root", "-"),                                       # repeated slash
    (SE, SRM + "/vo/./store/a2.root", "-"),                                      # '.' component
    (SE, SRM + "/vo/x/../store/a3.root", "-"),                                   # '..' component
    (SE, "srm://SE.Demo.Example:8446/srm/managerv2?SFN=/vo/store/a4.root", "-"),  # host case in the SFN
    (SE, "SRM://se.demo.example:8446/srm/managerv2?SFN=/vo/store/a5.root", "-"),  # scheme case
    (SE, "srm://se.demo.example:8446/srm/managerv2?sfn=/vo/store/a6.root", "-"),  # ?sfn= in lower case
    (SE, "srm://se.demo.example:8446/srm/v2/server?SFN=/vo/store/a7.root", "-"),  # another SRM endpoint path
    (SE, "srm://se.demo.example.:8446/srm/managerv2?SFN=/vo/store/a8.root", "-"),  # trailing dot in the SFN
    (SE, SRM + "//vo/store/a9.root", "-"),                                       # '//' after ?SFN=
    (SE, "srm://se.demo.example/vo/store/a10.root", "-"),                        # plain form, default port
]


# ------------------------------------------------------------------------------------------------ the cases

def host_column_case_and_trailing_dot(ctx):
    """A replica whose host column is 'Se.Demo.Example' or 'se.demo.example.' is the SE's (same_host): dumped."""
    for backend in ("sqlite", "mysql"):
        spec = ctx.spec(backend)
        fill(spec, [("Se.Demo.Example", SRM + "/vo/store/h1.root", "-"),
                    ("SE.DEMO.EXAMPLE.", SRM + "/vo/store/h2.root", "-"),
                    ("se.demo.example.", SRM + "/vo/store/h3.root", "D")])
        res, listed, _ = dump_and_compare(ctx, spec, {"se": SE}, expect_inactive=["/store/h3.root"])
        assert {"/store/h1.root", "/store/h2.root"} <= listed, (backend, listed)


def sfn_prefix_odd_spellings(ctx):
    """sfn_prefix in ?SFN= form, with and without trailing slash: every spelling selects() accepts is dumped."""
    for backend in ("sqlite", "mysql"):
        spec = ctx.spec(backend)
        fill(spec, ODD_SPELLINGS)
        for prefix in (SRM + "/vo/store/", SRM + "/vo/store", SRM + "/vo"):
            _res, listed, _ = dump_and_compare(ctx, spec, {"sfn_prefix": prefix})
            assert len([p for p in listed if p.startswith("/store/a")]) == len(ODD_SPELLINGS), (backend, prefix,
                                                                                                sorted(listed))


def sfn_prefix_plain_form(ctx):
    """sfn_prefix in the plain srm form selects the ?SFN= spellings too, all of them dumped."""
    spec = ctx.spec("sqlite")
    fill(spec, ODD_SPELLINGS)
    _res, listed, _ = dump_and_compare(ctx, spec, {"sfn_prefix": "srm://se.demo.example:8446/vo/store/"})
    assert len([p for p in listed if p.startswith("/store/a")]) == len(ODD_SPELLINGS), sorted(listed)


def se_and_sfn_prefix_both(ctx):
    """se and sfn_prefix together: a host column in mixed case AND an SFN in an odd spelling is still dumped."""
    for backend in ("sqlite", "mysql"):
        spec = ctx.spec(backend)
        fill(spec, ODD_SPELLINGS + [("Se.Demo.Example.", SRM + "/vo//store/b1.root", "-")])
        _res, listed, _ = dump_and_compare(ctx, spec, {"se": SE, "sfn_prefix": SRM + "/vo/"})
        assert "/store/b1.root" in listed and len([p for p in listed if p.startswith("/store/a")]) == 10


def statuses_protect(ctx):
    """P, D and a NULL status go to the companion (they protect against dark); '-' to the dump."""
    spec = ctx.spec("sqlite")
    fill(spec, [(SE, SRM + "/vo/s/p.root", "P"), (SE, SRM + "/vo/s/d.root", "D"), (SE, SRM + "/vo/s/n.root", "-")])
    with cat_access.open_catalog(spec) as c:
        c.execute("UPDATE Cns_file_replica SET status = NULL WHERE sfn = ?", (SRM + "/vo/s/n.root",))
    res, listed, inactive = dump_and_compare(ctx, spec, {"se": SE},
                                             expect_inactive=["/s/p.root", "/s/d.root", "/s/n.root"])
    assert res["inactive"] == 3


def cms_pipe_name_protected(ctx):
    """An available replica whose name the cms format cannot carry ('|') is in the companion, with a warning."""
    spec = ctx.spec("sqlite")
    fill(spec, [(SE, SRM + "/vo/s/a|b.root", "-")])
    res, listed, inactive = dump_and_compare(ctx, spec, {"se": SE}, fmt="cms", expect_inactive=["/s/a|b.root"])
    assert res["unrepresentable"] == 1 and "companion list" in res["warnings"][-1]


def duplicate_replicas_same_path(ctx):
    """Two replica rows of one path (two spellings): the path is dumped (held)."""
    spec = ctx.spec("sqlite")
    with cat_access.open_catalog(spec) as c:
        c.register_file("/grid/dup", 1, OLD, None, [(SE, SRM + "/vo/d/x.root", "-"), (SE, SRM + "/vo//d/x.root", "-")])
    _res, listed, _ = dump_and_compare(ctx, spec, {"se": SE})
    assert "/d/x.root" in listed


def null_sfn_no_traceback(ctx):
    """A replica row with a NULL sfn: counted as unparsable, one warning, no traceback (was a TypeError after
    publishing), with se and with sfn_prefix."""
    spec = ctx.spec("sqlite")
    fill(spec, [(SE, SRM + "/vo/n/x.root", "-")])
    with cat_access.open_catalog(spec) as c:
        c.execute("UPDATE Cns_file_replica SET sfn = NULL WHERE sfn = ?", (SRM + "/vo/n/x.root",))
    res, _, _ = dump_and_compare(ctx, spec, {"se": SE})
    assert res["unparsable"] == 1 and "(NULL)" in res["warnings"][0]
    dump_and_compare(ctx, spec, {"sfn_prefix": SRM + "/vo/"})


def non_utf8_sfn(ctx):
    """An SFN BLOB that is not UTF-8: left out as unrepresentable (se_dump leaves such names out too), the
    warning and samples printable."""
    spec = ctx.spec("sqlite")
    fill(spec, [])
    with cat_access.open_catalog(spec) as c:
        fid = c.register_file("/grid/bad", 1, OLD, None)[0]
        c.execute("INSERT INTO Cns_file_replica (fileid, host, sfn, status) VALUES (?, ?, ?, '-')",
                  (fid, SE, (SRM + "/vo/b/x").encode() + b"\xff.root"))
    res, _, _ = dump_and_compare(ctx, spec, {"se": SE})
    assert res["unrepresentable"] == 1 and res["samples"][0]["sfn"].endswith("x\\xff.root")
    res["samples"][0]["sfn"].encode("utf-8")


def no_replica_for_se_refused(ctx):
    """No replica of the SE (a wrong se): one sentence, nothing published (held)."""
    spec = ctx.spec("sqlite")
    fill(spec, [])
    dest = ctx.dest()
    with pytest.raises(VaporError, match=r"has 0 available replicas for host 'wrong.example' .* nothing was "
                                         r"published"):
        cat_dump.run_catalog_dump(dict(catalog=spec, dest=str(dest), se="wrong.example"))
    assert os.listdir(dest) == []


def _refused(ctx, spec, pattern):
    dest = ctx.dest()
    with pytest.raises(VaporError, match=pattern):
        cat_dump.run_catalog_dump(dict(catalog=spec, dest=str(dest), se=SE))
    assert os.listdir(dest) == []


def sqlite_path_is_directory(ctx):
    d = ctx.tmp / "dir.db"
    d.mkdir()
    _refused(ctx, {"backend": "sqlite", "path": str(d)}, r"^The SQLite catalog '.*dir.db' is a directory, not a "
                                                          r"catalog file\.$")


def sqlite_not_a_database(ctx):
    f = ctx.tmp / "junk.db"
    f.write_text("not a database\n" * 200)
    _refused(ctx, {"backend": "sqlite", "path": str(f)}, r"has no LFC/DPNS namespace .*file is not a database\.$")


def sqlite_missing_replica_table(ctx):
    spec = ctx.spec("sqlite")
    conn = sqlite3.connect(spec["path"])
    conn.execute("DROP TABLE Cns_file_replica")
    conn.commit()
    conn.close()
    _refused(ctx, spec, r"^Reading the catalog .* failed: no such table: Cns_file_replica\.$")


def sqlite_locked_by_writer(ctx, monkeypatch=None):
    """An exclusive writer holds the catalog: 'Reading ... failed: database is locked', not 'has no namespace'."""
    spec = ctx.spec("sqlite")
    fill(spec, [])
    conn = sqlite3.connect(spec["path"], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    orig = cat_access.connect_sqlite
    cat_access.connect_sqlite = lambda p: sqlite3.connect(p, timeout=0.2, isolation_level=None)
    try:
        _refused(ctx, spec, r"^Reading the catalog '.*' failed: database is locked\.$")
    finally:
        cat_access.connect_sqlite = orig
        conn.execute("ROLLBACK")
        conn.close()


def mysql_wrong_password(ctx):
    spec = dict(ctx.spec("mysql"), password="not-the-password")
    dest = ctx.dest()
    with pytest.raises(VaporError) as exc:
        cat_dump.run_catalog_dump(dict(catalog=spec, dest=str(dest), se=SE))
    assert "not-the-password" not in str(exc.value) and str(exc.value).count(". ") <= 1, str(exc.value)
    assert os.listdir(dest) == []


def mysql_server_down(ctx):
    spec = dict(ctx.spec("mysql"), port=1, connect_timeout=2)
    _refused(ctx, spec, r"127\.0\.0\.1|localhost|port|connect")


def summary_counts_every_spelling(ctx):
    """catalog_entries_info summary counts the files catalog_dump dumps (host column case, SFN spellings)."""
    for backend in ("sqlite", "mysql"):
        spec = ctx.spec(backend)
        fill(spec, ODD_SPELLINGS + [("Se.Demo.Example.", SRM + "/vo/store/c1.root", "-")])
        for sel in ({"se": SE}, {"sfn_prefix": SRM + "/vo/"}, {"se": SE, "sfn_prefix": SRM + "/vo/"}):
            info = cat_entries.entries_info(dict(sel, catalog=spec, summary=True))
            dumped = cat_dump.run_catalog_dump(dict(sel, catalog=spec, dest=str(ctx.dest()), strip_prefix="/vo"))
            assert info["files"] == dumped["available"] == 12, (backend, sel, info["files"], dumped["available"])


CASES = [
    host_column_case_and_trailing_dot, sfn_prefix_odd_spellings, sfn_prefix_plain_form, se_and_sfn_prefix_both,
    statuses_protect, cms_pipe_name_protected, duplicate_replicas_same_path, null_sfn_no_traceback, non_utf8_sfn,
    no_replica_for_se_refused, sqlite_path_is_directory, sqlite_not_a_database, sqlite_missing_replica_table,
    sqlite_locked_by_writer, mysql_wrong_password, mysql_server_down, summary_counts_every_spelling,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_hostile_catalog_dump(case, tmp_path, request):
    case(Ctx(tmp_path, request))
