# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The file catalog modules on a real MariaDB cns_db and on the embedded SQLite catalog.

catalog_dump and catalog_cleanup run through ansible-playbook (check mode -> real -> again with no
change); catalog_entries_info filters and the per-DN summary; the cleanup's re-check against a real
storage (gfal2's file plugin and the harness XRootD server); a run SIGKILLed mid-way and resumed,
with delete triggers proving that every replica and entry is removed exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._catalog import dump as cat_dump
from ansible_collections.vapor.ops.plugins.module_utils._catalog import entries as cat_entries
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

NOW = int(time.time())
OLD = NOW - 60 * 86400
SE = "se.example.org"
OTHER = "other.example.org"
SRM = "srm://se.example.org:8446/srm/managerv2?SFN="
TOP = "/dpm/example.org/home/vo"
ALICE = "/DC=org/DC=example/OU=people/CN=Alice Example"
BOB = "/DC=org/DC=example/OU=people/CN=Bob Example"
COLLECTIONS = str(ansible_runner.REPO / "collections")

# lfn -> (size, adler32, owner, [(host, sfn, status)])
FILES = {
    "/grid/vo/data/a.root": (100, "0a1b2c3d", ALICE, [(SE, SRM + TOP + "/data/a.root", "-")]),
    "/grid/vo/data/b.root": (200, None, ALICE, [(SE, "srm://se.example.org" + TOP + "/data/b.root", "-"),
                                                (OTHER, "root://other.example.org//vo/data/b.root", "-")]),
    "/grid/vo/data/c.root": (300, "00000003", BOB, [(SE, SRM + TOP + "/data/c.root", "P")]),
    "/grid/vo/mc/d.root": (400, "00000004", BOB, [(SE, SRM + TOP + "/mc/d.root", "D")]),
    "/grid/vo/mc/e.root": (500, "00000005", BOB, [(SE, SRM + "/dpm/example.org/home/other/e.root", "-")]),
    "/grid/vo/mc/ünï cödé.root": (600, "00000006", ALICE, [(SE, SRM + TOP + "/mc/ünï cödé.root", "-")]),
    "/grid/vo/user/f.root": (700, None, ALICE, [(OTHER, "root://other.example.org//vo/user/f.root", "-")]),
}
DUMPED = ["/data/a.root", "/data/b.root", "/mc/ünï cödé.root"]
INACTIVE = ["/data/c.root", "/mc/d.root"]


# ------------------------------------------------------------------------------------------------
# catalogs on both back ends, seeded with the same code


def mysql_spec(mariadb, dbname, **kw):
    spec = {"backend": "mysql", "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
            "password": mariadb.password, "database": dbname}
    spec.update(kw)
    return spec


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request, tmp_path):
    """(kind, catalog spec, server or None) for an empty namespace with only its root."""
    if request.param == "sqlite":
        path = str(tmp_path / "catalog.db")
        cat_schema.create_sqlite_catalog(path)
        return "sqlite", {"backend": "sqlite", "path": path}, None, None
    mariadb = request.getfixturevalue("mariadb")
    dbname = request.getfixturevalue("cns_db")
    seed.seed_dpm(mariadb, dbname, [])          # the namespace root, as a real DPNS/LFC has it
    return "mysql", mysql_spec(mariadb, dbname), mariadb, dbname


def fill(spec, files=FILES):
    with cat_access.open_catalog(spec) as c:
        for lfn, (size, csum, owner, reps) in files.items():
            c.register_file(lfn, size, OLD, csum, reps, owner_dn=owner, group="/vo/Role=NULL")


def snapshot(spec):
    """A listing of everything a cleanup may touch: entries (path, nlink) and replicas (sfn, host, status)."""
    with cat_access.open_catalog(spec) as c:
        entries = sorted((c.path_of(r[0]), int(r[1])) for r in c.all("SELECT fileid, nlink FROM Cns_file_metadata"))
        replicas = sorted((to_text(r[0]), r[1], r[2]) for r in
                          c.all("SELECT sfn, host, status FROM Cns_file_replica"))
    return entries, replicas


def playbook(tmp_path, module, args, name="Run"):
    """A one-task playbook (JSON is YAML) calling vapor.ops.<module> with these arguments."""
    path = tmp_path / f"{module}-{abs(hash(json.dumps(args, sort_keys=True))) % 10**8}.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                 "tasks": [{"name": name, f"vapor.ops.{module}": args}]}], indent=1))
    return path


def inventory(tmp_path):
    return ansible_runner.write_local_inventory(tmp_path / "inv.yml")


# ------------------------------------------------------------------------------------------------
# catalog_dump


def test_catalog_dump_cycle(tmp_path, run_playbook, backend):
    _kind, spec, _srv, _db = backend
    fill(spec)
    dest = tmp_path / "dumps"
    dest.mkdir()
    args = {"catalog": spec, "se": SE, "strip_prefix": TOP, "format": "cms", "compression": "gzip",
            "dest": str(dest), "keep": 3}
    pb, inv = playbook(tmp_path, "catalog_dump", args), inventory(tmp_path)

    check = run_playbook(pb, check=True, diff=True, inventory=inv)
    assert check.changed == 1, check.explain()
    res = check.result("Run")
    assert (res["replicas"], res["available"], res["inactive"], res["outside"]) == (6, 3, 2, 1)
    assert os.listdir(dest) == [], "check mode wrote something"
    assert res["diff"]["before"]["dumps"] == [] and res["diff"]["after"]["dumps"] == [res["name"]]

    real = run_playbook(pb, inventory=inv)
    assert real.changed == 1, real.explain()
    res = real.result("Run")
    assert res["published"] and res["name"].startswith("catalog_") and res["name"].endswith(".gz")
    assert res["start_time"] <= res["end_time"] and res["bytes"] == 900
    entries = {e.path: e for e in read_dump(res["dump"])}
    assert sorted(entries) == DUMPED
    assert (entries["/data/a.root"].size, entries["/data/a.root"].mtime, entries["/data/a.root"].checksum) == (
        100, OLD, "0a1b2c3d")
    assert entries["/data/b.root"].checksum is None
    assert sorted(e.path for e in read_dump(res["inactive_list"])) == INACTIVE
    assert sorted(os.listdir(dest)) == sorted([res["name"], os.path.basename(res["inactive_list"])])

    time.sleep(1.1)     # a new second: a new dump name if anything were published
    again = run_playbook(pb, inventory=inv)
    assert again.changed == 0, again.explain()
    assert again.result("Run")["dump"] == res["dump"] and not again.result("Run")["published"]
    assert len(os.listdir(dest)) == 2


def test_catalog_dump_same_content_on_both_backends(tmp_path, mariadb, cns_db):
    seed.seed_dpm(mariadb, cns_db, [])
    lite = str(tmp_path / "c.db")
    cat_schema.create_sqlite_catalog(lite)
    out = {}
    for name, spec in (("sqlite", {"backend": "sqlite", "path": lite}), ("mysql", mysql_spec(mariadb, cns_db))):
        fill(spec)
        dest = tmp_path / name
        dest.mkdir()
        r = cat_dump.run_catalog_dump({"catalog": spec, "se": SE, "strip_prefix": TOP, "format": "syncat",
                                       "dest": str(dest)}, now=NOW)
        out[name] = (sorted(read_dump(r["dump"])), sorted(read_dump(r["inactive_list"])))
    assert out["sqlite"] == out["mysql"]


def test_catalog_dump_dpm_disk_server_sfns(tmp_path, mariadb, cns_db):
    """A DPM head node's cns_db: replicas on a disk server, SFN diskserver:/fs/path."""
    files = [(f"{TOP}/run/f{i}.root", 10 + i, OLD, "AD", "%08x" % i) for i in range(20)]
    res = seed.seed_dpm(mariadb, cns_db, files, replica=("disk01.example.org", "/srv/fs01", "pool1"),
                        record_files=True)
    dest = tmp_path / "dumps"
    dest.mkdir()
    r = cat_dump.run_catalog_dump({"catalog": mysql_spec(mariadb, cns_db), "se": "disk01.example.org",
                                   "strip_prefix": "/srv/fs01", "add_prefix": "/fs01", "format": "cms",
                                   "dest": str(dest)}, now=NOW)
    got = {e.path: e for e in read_dump(r["dump"])}
    assert r["available"] == 20 and sorted(got) == sorted(f"/fs01/{fid}" for fid in res.file_ids.values())
    fid = res.file_ids[f"{TOP}/run/f7.root"]
    assert (got[f"/fs01/{fid}"].size, got[f"/fs01/{fid}"].checksum) == (17, "00000007")


def test_catalog_dump_wrong_password(tmp_path, run_playbook, mariadb, cns_db):
    dest = tmp_path / "dumps"
    dest.mkdir()
    spec = mysql_spec(mariadb, cns_db, password="wrong-secret")
    res = run_playbook(playbook(tmp_path, "catalog_dump", {"catalog": spec, "se": SE, "dest": str(dest)}),
                       inventory=inventory(tmp_path), expect_failure=True)
    msg = res.result("Run")["msg"]
    assert msg.startswith(f"The database '{cns_db}' on {mariadb.host}:{mariadb.port} refused the connection of "
                          "user 'vapor': Access denied"), msg
    assert msg.count(". ") == 0 and msg.endswith(".") and "wrong-secret" not in res.stdout + res.stderr
    assert os.listdir(dest) == []


def test_catalog_dump_wrong_se_publishes_nothing(tmp_path, run_playbook, backend):
    _kind, spec, _srv, _db = backend
    fill(spec)
    dest = tmp_path / "dumps"
    dest.mkdir()
    res = run_playbook(playbook(tmp_path, "catalog_dump", {"catalog": spec, "se": "typo.example.org",
                                                           "dest": str(dest)}),
                       inventory=inventory(tmp_path), expect_failure=True)
    assert "0 available replicas for host 'typo.example.org'" in res.result("Run")["msg"]
    assert os.listdir(dest) == []


# ------------------------------------------------------------------------------------------------
# catalog_entries_info


@pytest.mark.compat
def test_entries_info(tmp_path, run_playbook, backend):
    _kind, spec, _srv, _db = backend
    fill(spec)
    young = {"/grid/vo/data/young.root": (1, None, ALICE, [(SE, SRM + TOP + "/data/young.root", "-")])}
    with cat_access.open_catalog(spec) as c:
        for lfn, (size, csum, owner, reps) in young.items():
            c.register_file(lfn, size, NOW, csum, reps, owner_dn=owner)
    inv = inventory(tmp_path)
    res = run_playbook(playbook(tmp_path, "catalog_entries_info", {
        "catalog": spec, "path": "/grid/vo", "owners": [ALICE, "/CN=unknown"], "min_age": "30d"}), inventory=inv)
    assert res.changed == 0
    r = res.result("Run")
    assert [e["path"] for e in r["entries"]] == ["/grid/vo/data/a.root", "/grid/vo/data/b.root",
                                                 "/grid/vo/mc/ünï cödé.root", "/grid/vo/user/f.root"]
    b = r["entries"][1]
    assert b["owner"] == ALICE and b["group"] == "vo" and b["size"] == 200 and b["mtime"] == OLD
    assert sorted((x["host"], x["status"]) for x in b["replicas"]) == [(OTHER, "-"), (SE, "-")]
    assert r["unknown_owners"] == ["/CN=unknown"] and r["bytes"] == 1600

    res = run_playbook(playbook(tmp_path, "catalog_entries_info", {
        "catalog": spec, "summary": True, "se": SE}), inventory=inv, check=True)
    s = res.result("Run")
    assert s["summary"] == [
        {"dn": BOB, "uid": s["summary"][0]["uid"], "files": 3, "bytes": 1200},
        {"dn": ALICE, "uid": s["summary"][1]["uid"], "files": 4, "bytes": 901}]
    assert (s["files"], s["bytes"]) == (7, 2101)

    # a listing cut by limit ends its streaming cursor before the next queries (MySQL: no "out of sync")
    r = cat_entries.entries_info({"catalog": spec, "path": "/grid", "limit": 2, "entry_type": "any"})
    assert r["count"] == 2 and r["truncated"]


# ------------------------------------------------------------------------------------------------
# catalog_cleanup


@pytest.fixture
def storage(tmp_path):
    """A file:// storage holding what the catalog says is on SE, minus the lost files."""
    root = tmp_path / "storage"
    for rel in ("data/a.root", "data/b.root", "mc/ünï cödé.root"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    return root


def lost_setup(spec, storage, tmp_path):
    """Three lost files (one with a replica elsewhere), one that reappeared, one the storage cannot answer for."""
    lost_files = {
        "/grid/vo/lost/l1.root": (11, None, BOB, [(SE, SRM + TOP + "/lost/l1.root", "-")]),
        "/grid/vo/lost/l2.root": (12, None, BOB, [(SE, "srm://se.example.org" + TOP + "/lost/l2.root", "-")]),
        "/grid/vo/lost/l3.root": (13, None, BOB, [(SE, SRM + TOP + "/lost/l3.root", "-"),
                                                  (OTHER, "root://other.example.org//vo/lost/l3.root", "-")]),
        "/grid/vo/lost/back.root": (14, None, BOB, [(SE, SRM + TOP + "/lost/back.root", "-")]),
        "/grid/vo/odd/x.root": (15, None, BOB, [(SE, SRM + TOP + "/odd/x.root", "-")]),
    }
    fill(spec, lost_files)
    (storage / "lost").mkdir()
    (storage / "lost" / "back.root").write_bytes(b"back")      # it reappeared: protected
    (storage / "odd").write_bytes(b"a file where a directory should be")   # stat fails with ENOTDIR
    lost = tmp_path / "run" / "lost.list"
    lost.parent.mkdir()
    paths = ["/data/c.root", "/lost/back.root", "/lost/l1.root", "/lost/l2.root", "/lost/l3.root",
             "/lost/never-registered.root", "/odd/x.root"]
    lost.write_text("".join(p + "\n" for p in paths))
    return lost


@pytest.mark.compat
def test_catalog_cleanup_cycle(tmp_path, run_playbook, backend, storage):
    _kind, spec, _srv, _db = backend
    fill(spec)
    lost = lost_setup(spec, storage, tmp_path)
    args = {"catalog": spec, "se": SE, "strip_prefix": TOP, "lost": str(lost),
            "storage_url": "file://" + str(storage)}
    pb, inv = playbook(tmp_path, "catalog_cleanup", args), inventory(tmp_path)
    before = snapshot(spec)

    check = run_playbook(pb, check=True, diff=True, inventory=inv)
    assert check.changed == 1, check.explain()
    assert snapshot(spec) == before, "check mode changed the catalog"
    assert not os.path.exists(str(lost) + ".catalog_cleanup.journal")
    res = check.result("Run")
    assert sorted((r["lfn"], r["entry_removed"]) for r in res["removed"]) == [
        ("/grid/vo/lost/l1.root", True), ("/grid/vo/lost/l2.root", True), ("/grid/vo/lost/l3.root", False)]
    assert "entry /grid/vo/lost/l1.root" in res["diff"]["before"] and res["diff"]["after"] == ""

    real = run_playbook(pb, diff=True, inventory=inv)
    assert real.changed == 1, real.explain()
    res = real.result("Run")
    assert (res["removed_replicas"], res["removed_entries"]) == (3, 2)
    assert sorted((s["path"], s["reason"]) for s in res["kept"]) == [
        ("/data/c.root", "not_available"), ("/lost/back.root", "on_storage"), ("/odd/x.root", "storage_error")]
    assert any("/odd/x.root" in w and "Not a directory" in w for w in res.get("warnings", [])), res.get("warnings")
    assert res["counts"]["absent"] == 1

    entries, replicas = snapshot(spec)
    gone_entries = {"/grid/vo/lost/l1.root", "/grid/vo/lost/l2.root"}
    gone_replicas = {SRM + TOP + "/lost/l1.root", "srm://se.example.org" + TOP + "/lost/l2.root",
                     SRM + TOP + "/lost/l3.root"}
    assert entries == [(p, n - 2 if p == "/grid/vo/lost" else n) for p, n in before[0] if p not in gone_entries]
    assert replicas == [r for r in before[1] if r[0] not in gone_replicas]

    again = run_playbook(pb, diff=True, inventory=inv)
    assert again.changed == 0, again.explain()
    assert again.result("Run")["counts"]["already_done"] == 3
    assert snapshot(spec) == (entries, replicas)


def test_cleanup_recheck_on_xrootd(tmp_path, mariadb, cns_db, xrootd, xrootd_dir):
    """The storage re-check on a real XRootD server: a file that came back is never removed."""
    seed.seed_dpm(mariadb, cns_db, [])
    spec = mysql_spec(mariadb, cns_db)
    fill(spec, {f"/grid/vo/x/{n}": (1, None, BOB, [(SE, f"root://{SE}:1094/{TOP}/x/{n}", "-")])
                for n in ("gone.root", "back.root", "here.root")})
    xrootd.seed({f"{xrootd_dir.strip('/')}/x/back.root": b"back", f"{xrootd_dir.strip('/')}/x/here.root": b"h"})
    lost = tmp_path / "lost.list"
    lost.write_text("/x/back.root\n/x/gone.root\n")
    r = cat_cleanup.run_catalog_cleanup({"catalog": spec, "se": SE, "strip_prefix": TOP, "lost": str(lost),
                                         "storage_url": xrootd.url + "/" + xrootd_dir})
    assert [x["lfn"] for x in r["removed"]] == ["/grid/vo/x/gone.root"]
    assert r["kept"] == [{"path": "/x/back.root", "reason": "on_storage",
                          "detail": xrootd.url + "/" + xrootd_dir + "/x/back.root"}]
    with cat_access.open_catalog(spec) as c:
        assert c.lookup("/grid/vo/x/back.root") is not None and c.lookup("/grid/vo/x/gone.root") is None


def test_cleanup_lookup_uses_the_indexes(mariadb, cns_db):
    """The re-check's query is an index lookup on MariaDB (no full scan of Cns_file_replica)."""
    seed.seed_dpm(mariadb, cns_db, [(f"{TOP}/idx/f{i}", 1, OLD) for i in range(3000)],
                  replica=(SE, "/srv/fs01", "pool1"))
    spec = mysql_spec(mariadb, cns_db)
    with cat_access.open_catalog(spec) as c:
        m = cat_sfn.SfnMapping(SE, "/srv/fs01", None)
        assert c.learn_heads(m) == [SE + ":"]
        cands = m.candidates("/1234", m.heads)
        plan = c.all("EXPLAIN SELECT rowid FROM Cns_file_replica WHERE sfn IN (%s) AND host = %s", cands + [SE])
        cols = [d[0] for d in c.execute("EXPLAIN SELECT 1").description]
        row = dict(zip(cols, plan[0]))
        assert row["type"] != "ALL" and row["key"], row
        assert [r.sfn for r in c.replicas_for_path("/1234", m)] == [SE + ":/srv/fs01/1234"]


# ------------------------------------------------------------------------------------------------
# a run killed mid-way resumes; delete triggers count every removal


AUDIT = {
    "mysql": [
        "CREATE TABLE audit_del (kind VARCHAR(10), id BIGINT, what BLOB)",
        "CREATE TRIGGER audit_rep AFTER DELETE ON Cns_file_replica FOR EACH ROW "
        "INSERT INTO audit_del VALUES ('replica', OLD.rowid, OLD.sfn)",
        "CREATE TRIGGER audit_ent AFTER DELETE ON Cns_file_metadata FOR EACH ROW "
        "INSERT INTO audit_del VALUES ('entry', OLD.fileid, OLD.name)",
    ],
    "sqlite": [
        "CREATE TABLE audit_del (kind TEXT, id INTEGER, what TEXT)",
        "CREATE TRIGGER audit_rep AFTER DELETE ON Cns_file_replica BEGIN "
        "INSERT INTO audit_del VALUES ('replica', OLD.rowid, OLD.sfn); END",
        "CREATE TRIGGER audit_ent AFTER DELETE ON Cns_file_metadata BEGIN "
        "INSERT INTO audit_del VALUES ('entry', OLD.fileid, OLD.name); END",
    ],
}

KILLER = r"""
import json, os, signal, sys
sys.path.insert(0, %(collections)r)
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
params, n, where = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
done = [0]
def killer(real):
    def wrapped(*a, **kw):
        out = real(*a, **kw)
        done[0] += 1
        if done[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return wrapped
if where == 'after_commit':        # the removal is committed, the journal does not know yet
    cat_access.Catalog.remove_replica = killer(cat_access.Catalog.remove_replica)
else:                              # inside the transaction, after the deletes, before the commit
    cat_access.Catalog._remove_entry = killer(cat_access.Catalog._remove_entry)
print(json.dumps(cat_cleanup.run_catalog_cleanup(params), default=str))
"""


ANCHOR = {"/grid/vo/keep/anchor.root": (1, None, BOB, [(SE, SRM + TOP + "/keep/anchor.root", "-")])}


def audit(backend_kind, spec, srv, dbname):
    if backend_kind == "mysql":
        for stmt in AUDIT["mysql"]:
            srv.execute(stmt, db=dbname)
    else:
        import sqlite3
        conn = sqlite3.connect(spec["path"])
        for stmt in AUDIT["sqlite"]:
            conn.execute(stmt)
        conn.commit()
        conn.close()


def audit_rows(spec):
    with cat_access.open_catalog(spec) as c:
        return sorted((r[0], to_text(r[2])) for r in c.all("SELECT kind, id, what FROM audit_del"))


@pytest.mark.parametrize("where", ["after_commit", "in_transaction"])
def test_cleanup_killed_mid_run_resumes_exactly_once(tmp_path, backend, where):
    kind, spec, srv, dbname = backend
    storage = tmp_path / "storage"
    storage.mkdir()
    names = [f"k{i:02d}.root" for i in range(8)]
    fill(spec, {f"/grid/vo/kill/{n}": (1, None, BOB, [(SE, SRM + TOP + f"/kill/{n}", "-")]) for n in names})
    fill(spec, ANCHOR)                     # a good file, so the storage can show that it sees
    (storage / "keep").mkdir()
    (storage / "keep" / "anchor.root").write_bytes(b"a")
    audit(kind, spec, srv, dbname)
    lost = tmp_path / "lost.list"
    lost.write_text("".join(f"/kill/{n}\n" for n in names))
    # every file of /kill is lost (none shows): the area is trusted as lost, not taken for an unmounted one
    params = {"catalog": spec, "se": SE, "strip_prefix": TOP, "lost": str(lost),
              "storage_url": "file://" + str(storage), "trust_lost_areas": True}
    before = snapshot(spec)

    proc = subprocess.run([sys.executable, "-c", KILLER % {"collections": COLLECTIONS}, json.dumps(params), "3",
                           where], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    journal = (tmp_path / "lost.list.catalog_cleanup.journal").read_text().splitlines()
    states = [json.loads(line).get("state") for line in journal[1:]]
    assert states == ["started", "done"] * 2 + ["started"], journal     # the third item is in doubt
    committed = 3 if where == "after_commit" else 2
    assert len([r for r in audit_rows(spec) if r[0] == "entry"]) == committed

    r = cat_cleanup.run_catalog_cleanup(params)
    assert r["counts"]["already_done"] == 2
    assert r["removed_replicas"] == 8 - committed
    # every replica and every entry was deleted exactly once over the two runs, nothing else
    rows = audit_rows(spec)
    assert sorted(w for k, w in rows if k == "replica") == sorted(SRM + TOP + f"/kill/{n}" for n in names)
    assert sorted(w for k, w in rows if k == "entry") == sorted(names)
    entries, replicas = snapshot(spec)
    assert entries == [(p, 0 if p == "/grid/vo/kill" else n) for p, n in before[0]
                       if not p.startswith("/grid/vo/kill/")]
    assert replicas == [(SRM + TOP + "/keep/anchor.root", SE, "-")]
    again = cat_cleanup.run_catalog_cleanup(params)
    assert not again["changed"] and again["counts"]["already_done"] == 8


def test_mysql_catalog_from_an_nsconfig_file(tmp_path, mariadb, cns_db):
    seed.seed_dpm(mariadb, cns_db, [])
    nsconfig = tmp_path / "NSCONFIG"
    nsconfig.write_text(f"{mariadb.user}/{mariadb.password}@{mariadb.host}/{cns_db}\n")
    spec = {"backend": "mysql", "config_file": str(nsconfig), "port": mariadb.port}
    fill(spec, {"/grid/vo/n.root": (5, None, ALICE, [(SE, SRM + TOP + "/n.root", "-")])})
    with cat_access.open_catalog(spec) as c:
        assert c.version == (3, 2, 0) and c.lookup("/grid/vo/n.root").filesize == 5
    with pytest.raises(VaporError, match="has no user; set catalog.user or catalog.config_file"):
        cat_access.open_catalog({"backend": "mysql", "host": mariadb.host})


def test_lenient_selection_stays_an_index_lookup(mariadb, cns_db):
    """se (host IN the usual spellings) and sfn_prefix (a range per spelling of the prefix) use the indexes."""
    seed.seed_dpm(mariadb, cns_db, [(f"{TOP}/sel/f{i}", 1, OLD) for i in range(3000)],
                  replica=(SE, "/srv/fs01", "pool1"))
    spec = mysql_spec(mariadb, cns_db)
    with cat_access.open_catalog(spec) as c:
        cols = [d[0] for d in c.execute("EXPLAIN SELECT 1").description]
        for mapping in (cat_sfn.SfnMapping(SE), cat_sfn.SfnMapping(None, None, None, SRM + TOP + "/sel/")):
            where, params = c._selection(mapping)
            plan = dict(zip(cols, c.all("EXPLAIN SELECT rowid FROM Cns_file_replica WHERE " + where, params)[0]))
            # every row here is on SE, so the optimizer may scan the host index whole; it must be able to use it
            wanted = "host" if mapping.se else "sfn"
            assert plan["type"] != "ALL" and wanted in (plan["possible_keys"] or ""), (where, plan)
            if not mapping.se:
                assert plan["type"] == "range", (where, plan)
