# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The test harness itself: real servers start, authenticate, serve seeded data, and go away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zlib

import pymysql
import psycopg
import pytest

import seed
from ansible_runner import PlaybookResult, run_playbook, write_local_inventory
from servers import PostgreSQL, XRootD, server_identity

SYSTEM_PYTHON = "/usr/bin/python3"


# -- MariaDB ---------------------------------------------------------------------------


def test_mariadb_password_auth(mariadb):
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        user, db = cur.fetchone()
    assert user == f"{mariadb.user}@%"
    assert db == mariadb.database
    with pytest.raises(pymysql.err.OperationalError) as exc:
        mariadb.connect(password="wrong-password")
    assert exc.value.args[0] == 1045  # ER_ACCESS_DENIED_ERROR
    assert "Access denied" in exc.value.args[1]


def test_mariadb_socket_and_sql_helpers(mariadb):
    assert mariadb.host == "127.0.0.1" and mariadb.port > 0
    assert os.path.exists(mariadb.socket)
    db = mariadb.create_database("harness_sql")
    mariadb.executescript("CREATE TABLE t (a INT, b VARCHAR(10)); INSERT INTO t VALUES (1, 'x');", db=db)
    mariadb.executemany("INSERT INTO t VALUES (%s, %s)", [(2, "y"), (3, "z")], db=db)
    assert mariadb.execute("SELECT a, b FROM t ORDER BY a", db=db) == [(1, "x"), (2, "y"), (3, "z")]
    # vapor may use the database it was granted, over the unix socket too
    with pymysql.connect(unix_socket=mariadb.socket, user=mariadb.user, password=mariadb.password,
                         database=db) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM t")
        assert cur.fetchone()[0] == 3
    mariadb.drop_database(db)


def test_cns_schema(mariadb, cns_db):
    assert mariadb.execute("SELECT major, minor, patch FROM schema_version", db=cns_db) == [(3, 2, 0)]
    tables = {r[0] for r in mariadb.execute("SHOW TABLES", db=cns_db)}
    assert tables == {
        "Cns_class_metadata", "Cns_file_metadata", "Cns_user_metadata", "Cns_symlinks",
        "Cns_file_replica", "Cns_groupinfo", "Cns_userinfo", "Cns_unique_id", "Cns_unique_gid",
        "Cns_unique_uid", "schema_version",
    }
    idx = {(r[2], r[4]) for r in mariadb.execute("SHOW INDEX FROM Cns_file_metadata", db=cns_db)}
    assert ("file_full_id", "parent_fileid") in idx and ("file_full_id", "name") in idx
    assert ("PARENT_FILEID_IDX", "parent_fileid") in idx
    assert ("fileid", "fileid") in idx and ("guid", "guid") in idx
    fks = mariadb.execute(
        "SELECT table_name, referenced_table_name FROM information_schema.referential_constraints "
        "WHERE constraint_schema = %s", (cns_db,))
    assert {t for t, _ in fks} == {"Cns_user_metadata", "Cns_symlinks", "Cns_file_replica"}
    # BINARY: names are case-sensitive, so these two are different entries
    mariadb.executescript(
        "INSERT INTO Cns_file_metadata (fileid, parent_fileid, name) VALUES (10, 1, 'A'), (11, 1, 'a')",
        db=cns_db)


# -- PostgreSQL ------------------------------------------------------------------------


def test_postgres_password_auth(postgres):
    with postgres.connect() as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            postgres.user, postgres.database)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        postgres.connect(password="wrong-password")
    # the superuser is not reachable over TCP without a password
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="postgres",
                        password="", connect_timeout=5)


def test_chimera_schema(postgres, chimera_db):
    with postgres.connect(dbname=chimera_db) as conn:
        root = conn.execute("SELECT inumber, itype FROM t_inodes WHERE ipnfsid = %s",
                            (seed.CHIMERA_ROOT_PNFSID,)).fetchone()
        assert root[1] == 16384
        assert conn.execute("SELECT pnfsid2inumber(%s)", (seed.CHIMERA_ROOT_PNFSID,)).fetchone()[0] == root[0]
        assert conn.execute("SELECT inumber2path(%s)", (root[0],)).fetchone()[0] == "/"
        # vapor owns the tables and can write them
        conn.execute("INSERT INTO t_inodes_checksum VALUES (%s, 1, 'deadbeef')", (root[0],))


# -- XRootD ----------------------------------------------------------------------------


def test_xrdfs_lists_seeded_files(xrootd, xrootd_dir):
    mtime = 1_600_000_000
    xrootd.seed({f"{xrootd_dir}/a.txt": b"hello", f"{xrootd_dir}/sub/big.bin": 12345,
                 f"{xrootd_dir}/empty/": None}, mtime=mtime)
    res = xrootd.xrdfs("ls", "-l", xrootd_dir)
    assert res.returncode == 0, res.stderr
    listing = {line.split()[-1]: line.split() for line in res.stdout.splitlines() if line.strip()}
    assert set(listing) == {f"{xrootd_dir}/a.txt", f"{xrootd_dir}/sub", f"{xrootd_dir}/empty"}
    assert listing[f"{xrootd_dir}/a.txt"][0].startswith("-r")
    # xrdfs 5.5 prints "mode owner group size date time path"
    assert listing[f"{xrootd_dir}/a.txt"][-4] == "5"
    assert listing[f"{xrootd_dir}/sub"][0].startswith("d")
    stamp = time.strftime("%Y-%m-%d", time.localtime(mtime))
    assert stamp in " ".join(listing[f"{xrootd_dir}/a.txt"])
    res = xrootd.xrdfs("ls", "-l", f"{xrootd_dir}/sub")
    fields = res.stdout.split()
    assert (fields[-4], fields[-1]) == ("12345", f"{xrootd_dir}/sub/big.bin")
    # checksums are served (xrootd.chksum adler32)
    res = xrootd.xrdfs("query", "checksum", f"{xrootd_dir}/a.txt")
    assert res.stdout.split() == ["adler32", f"{zlib.adler32(b'hello'):08x}"]


def test_xrootd_seed_ownership(xrootd, xrootd_dir):
    paths = xrootd.seed({f"{xrootd_dir}/deep/er/f": b"x"})
    ident = server_identity()
    for p in [paths[0], paths[0].parent, paths[0].parent.parent]:
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (ident.uid, ident.gid)
    # per-path mtimes
    old, new = 1_500_000_000, 1_700_000_000
    xrootd.seed({f"{xrootd_dir}/old": b"o", f"{xrootd_dir}/new": b"n"},
                mtime={f"{xrootd_dir}/old": old, f"{xrootd_dir}/new": new})
    assert int(xrootd.path(f"{xrootd_dir}/old").stat().st_mtime) == old
    assert int(xrootd.path(f"{xrootd_dir}/new").stat().st_mtime) == new
    # the server can delete what the tests seeded
    assert xrootd.xrdfs("rm", f"{xrootd_dir}/deep/er/f").returncode == 0
    assert not paths[0].exists()


def test_python_bindings_from_system_python(xrootd, xrootd_dir):
    xrootd.seed({f"{xrootd_dir}/one": b"1", f"{xrootd_dir}/two": b"22", f"{xrootd_dir}/d/": None})
    script = textwrap.dedent(f"""
        import json
        from XRootD import client
        from XRootD.client.flags import DirListFlags
        fs = client.FileSystem({xrootd.url!r})
        status, listing = fs.dirlist({xrootd_dir!r}, DirListFlags.STAT)
        assert status.ok, status.message
        print(json.dumps({{e.name: [e.statinfo.size, e.statinfo.flags] for e in listing}}))
    """)
    out = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)
    assert entries["one"][0] == 1 and entries["two"][0] == 2
    assert entries["d"][1] & 2  # StatInfoFlags.IS_DIR


def test_python_bindings_in_venv(xrootd, xrootd_dir):
    from XRootD import client
    from XRootD.client.flags import DirListFlags

    xrootd.seed({f"{xrootd_dir}/f": b"abc"})
    status, listing = client.FileSystem(xrootd.url).dirlist(xrootd_dir, DirListFlags.STAT)
    assert status.ok, status.message
    assert [(e.name, e.statinfo.size) for e in listing] == [("f", 3)]


# -- life cycle ------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_kills_server_and_removes_directory():
    with XRootD() as srv:
        pid, d = srv.proc.pid, srv.dir
        assert _pid_alive(pid)
    assert not _pid_alive(pid)
    assert not d.exists()
    srv.stop()  # idempotent


def test_servers_die_with_the_test_process():
    """A test process killed with SIGKILL leaves no server behind (parent-death signal)."""
    script = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from servers import XRootD
        srv = XRootD().start()
        print(srv.proc.pid, srv.dir, flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script, os.path.dirname(seed.__file__)],
                             stdout=subprocess.PIPE, text=True)
    try:
        pid, d = child.stdout.readline().split()
        pid = int(pid)
        assert _pid_alive(pid)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 20
    while _pid_alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(pid)
    # the next harness start cleans up the directory the dead process left behind
    from servers import cleanup_leftovers
    assert os.path.isdir(d)
    removed = cleanup_leftovers()
    assert not os.path.exists(d)
    assert any(str(r) == d for r in removed)


@pytest.mark.parametrize("cls", [XRootD, PostgreSQL])
def test_port_taken_meanwhile_is_retried(monkeypatch, cls):
    """Another process grabs the chosen port before the server binds it: the harness picks another."""
    import socket

    import servers

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    ports = iter([busy.getsockname()[1]])
    real_free_port = servers.free_port
    monkeypatch.setattr(servers, "free_port", lambda: next(ports, None) or real_free_port())
    try:
        with cls(startup_timeout=30) as srv:
            assert srv.port != busy.getsockname()[1]
            assert srv.running
    finally:
        busy.close()


def test_failed_start_reports_log():
    srv = XRootD(extra_config=["all.export relative/path"], startup_timeout=20)
    with pytest.raises(Exception) as exc:
        srv.start()
    msg = str(exc.value)
    assert msg.startswith("xrootd")
    assert "non-absolute export path" in msg  # the log tail is part of the error
    assert srv.proc is None and not srv.dir.exists()


# -- seeding -----------------------------------------------------------------------------


DPM_FILES = [
    ("/dpm/example.org/home/vo/data/f1", 100, 1_600_000_000, "AD", "0a0b0c0d"),
    ("/dpm/example.org/home/vo/data/f2", 200, 1_600_000_100, "AD", "1a1b1c1d"),
    ("/dpm/example.org/home/vo/other/f3", 0, 1_600_000_200, None, None),
    ("/dpm/example.org/home/vo/odd name\twith tab", 7, 1_600_000_300, "MD", "x" * 32),
]


def test_seed_dpm_rows(mariadb, cns_db):
    res = seed.seed_dpm(mariadb, cns_db, iter(DPM_FILES), record_files=True, xattr_checksums=True,
                        replica=("disk01.example.org", "/srv/fs1", "pool1"))
    assert res.files == 4
    assert res.dirs_created == 7  # / dpm example.org home vo data other
    ns = seed.dpm_namespace(mariadb, cns_db)
    root = ns["/"]
    assert (root["parent_fileid"], root["filemode"]) == (0, 0o040755)
    for path, size, mtime, ctype, cval in DPM_FILES:
        row = ns[path]
        assert row["filemode"] == 33188
        assert (row["filesize"], row["mtime"], row["ctime"]) == (size, mtime, mtime)
        assert (row["csumtype"], row["csumvalue"]) == (ctype or "", cval or "")
        assert row["fileid"] == res.file_ids[path]
        assert len(row["guid"]) == 36
    assert ns["/dpm/example.org/home/vo/data"]["filemode"] == 16877
    assert ns["/dpm/example.org/home/vo/data"]["nlink"] == 2
    assert json.loads(ns["/dpm/example.org/home/vo/data/f1"]["xattr"]) == {"checksum.adler32": "0a0b0c0d"}
    assert mariadb.execute("SELECT COUNT(*) FROM Cns_file_replica", db=cns_db) == [(4,)]
    assert mariadb.execute("SELECT id FROM Cns_unique_id", db=cns_db) == [(res.max_id,)]
    # parents always numbered before children in the plain case
    for path, row in ns.items():
        if path != "/":
            assert row["parent_fileid"] < row["fileid"]


def test_seed_dpm_moved_directory_and_second_call(mariadb, cns_db):
    big = 10_000_000
    res = seed.seed_dpm(mariadb, cns_db, [("/dpm/x/moved/f1", 1, 1_600_000_000, "AD", "01"),
                                          ("/dpm/x/moved/sub/f2", 2, 1_600_000_000, "AD", "02")],
                        dirs={"/dpm/x/moved": big})
    ns = seed.dpm_namespace(mariadb, cns_db)
    assert ns["/dpm/x/moved"]["fileid"] == big
    assert ns["/dpm/x/moved/f1"]["fileid"] < big
    assert ns["/dpm/x/moved/f1"]["parent_fileid"] == big
    assert res.max_id == big
    # a second call reuses the existing directories and continues the counter
    res2 = seed.seed_dpm(mariadb, cns_db, [("/dpm/x/moved/f3", 3, 1_600_000_000)])
    assert res2.dirs_created == 0
    ns = seed.dpm_namespace(mariadb, cns_db)
    assert ns["/dpm/x/moved/f3"]["parent_fileid"] == big
    assert ns["/dpm/x/moved/f3"]["fileid"] > big
    # a duplicate path is an error, not silently skipped
    with pytest.raises(RuntimeError, match="loaded 0 of 1"):
        seed.seed_dpm(mariadb, cns_db, [("/dpm/x/moved/f3", 3, 1_600_000_000)])


def test_seed_dpm_creates_schema_when_missing(mariadb):
    db = mariadb.create_database("harness_empty")
    seed.seed_dpm(mariadb, db, [("/a/b", 1, 1)])
    assert mariadb.execute("SELECT major FROM schema_version", db=db) == [(3,)]
    mariadb.drop_database(db)


CHIMERA_FILES = [
    ("/pnfs/example.org/data/vo/f1", 100, 1_600_000_000, "0a0b0c0d"),
    ("/pnfs/example.org/data/vo/sub/f2", 200, 1_600_000_100.5, None),
    ("/pnfs/example.org/data/vo/sub/f3", 0, 1_600_000_200, "00000001"),
]


def test_seed_chimera_rows(postgres, chimera_db):
    res = seed.seed_chimera(postgres, (f for f in CHIMERA_FILES), dbname=chimera_db, record_files=True)
    assert res.files == 3 and res.dirs_created == 5
    ns = seed.chimera_namespace(postgres, chimera_db)
    for path, size, mtime, adler in CHIMERA_FILES:
        row = ns[path]
        assert row["itype"] == 32768 and row["imode"] == 0o644
        assert row["isize"] == size and row["mtime"] == int(mtime)
        assert row["adler32"] == adler
        assert row["inumber"] == res.file_ids[path]
        assert len(row["ipnfsid"]) == 36
    assert ns["/pnfs/example.org/data/vo/sub"]["itype"] == 16384
    with postgres.connect(dbname=chimera_db) as conn:
        # the dCache lookup functions agree with the seeded tree
        f2 = res.file_ids["/pnfs/example.org/data/vo/sub/f2"]
        assert conn.execute("SELECT inumber2path(%s)", (f2,)).fetchone()[0] == "/pnfs/example.org/data/vo/sub/f2"
        root = conn.execute("SELECT pnfsid2inumber(%s)", (seed.CHIMERA_ROOT_PNFSID,)).fetchone()[0]
        assert conn.execute("SELECT path2inumber(%s, %s)", (root, "/pnfs/example.org/data/vo/sub/f2")).fetchone()[0] == f2
        assert conn.execute("SELECT COUNT(*) FROM t_locationinfo").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM t_inodes_checksum WHERE itype = 1").fetchone()[0] == 2
        assert conn.execute("SELECT last_value FROM t_inodes_inumber_seq").fetchone()[0] == res.max_id


def test_seed_chimera_moved_directory(postgres, chimera_db):
    big = 5_000_000
    seed.seed_chimera(postgres, [("/pnfs/m/moved/f", 1, 1_600_000_000, None)], dbname=chimera_db,
                      dirs={"/pnfs/m/moved": big})
    ns = seed.chimera_namespace(postgres, chimera_db)
    assert ns["/pnfs/m/moved"]["inumber"] == big
    assert ns["/pnfs/m/moved/f"]["inumber"] < big
    assert ns["/pnfs/m/moved/f"]["iparent"] == big
    res = seed.seed_chimera(postgres, [("/pnfs/m/moved/g", 1, 1_600_000_000, None)], dbname=chimera_db)
    assert res.dirs_created == 0
    with pytest.raises(psycopg.errors.UniqueViolation):
        seed.seed_chimera(postgres, [("/pnfs/m/moved/g", 1, 1_600_000_000, None)], dbname=chimera_db)


def test_seed_generators_are_streamed(mariadb, cns_db, postgres, chimera_db):
    """The seeders consume a generator in chunks (the benchmark path), here with a small chunk size."""
    n = 2500

    def gen():
        for i in range(n):
            yield (f"/big/d{i % 7}/f{i}", i, 1_600_000_000 + i, "AD", f"{i:08x}")

    res = seed.seed_dpm(mariadb, cns_db, gen(), chunk_size=1000)
    assert res.files == n
    assert mariadb.execute("SELECT COUNT(*) FROM Cns_file_metadata WHERE filemode = 33188", db=cns_db) == [(n,)]
    res = seed.seed_chimera(postgres, ((p, s, m, c) for p, s, m, _, c in gen()), dbname=chimera_db,
                            chunk_size=1000)
    assert res.files == n
    with postgres.connect(dbname=chimera_db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM t_inodes WHERE itype = 32768").fetchone()[0] == n


# -- ansible runner ----------------------------------------------------------------------


def test_run_playbook_local(tmp_path, local_inventory):
    pb = tmp_path / "pb.yml"
    pb.write_text(textwrap.dedent("""
        - name: harness check
          hosts: all
          gather_facts: false
          tasks:
            - name: Echo a var
              ansible.builtin.debug:
                msg: "{{ greeting }}"
            - name: Make a change
              ansible.builtin.copy:
                dest: "{{ target }}"
                content: "x\\n"
            - name: The venv Python sees the bindings
              ansible.builtin.command: "{{ ansible_python_interpreter }} -c 'import XRootD, pymysql, psycopg'"
              changed_when: false
    """))
    target = tmp_path / "out.txt"
    res = run_playbook(pb, {"greeting": "it's \"quoted\" & $HOME", "target": str(target)},
                       inventory=local_inventory)
    assert isinstance(res, PlaybookResult)
    assert res.rc == 0 and not res.failed
    assert res.changed == 1
    assert res.result("Echo a var")["msg"] == "it's \"quoted\" & $HOME"
    assert res.task("Make a change")["localhost"]["changed"] is True
    # check mode on a fresh target: reports the change, makes none
    target2 = tmp_path / "out2.txt"
    res = run_playbook(pb, {"greeting": "hi", "target": str(target2)}, check=True, diff=True,
                       inventory="local")
    assert res.changed == 1 and not target2.exists()


def test_run_playbook_failure(tmp_path):
    pb = tmp_path / "fail.yml"
    pb.write_text(textwrap.dedent("""
        - hosts: all
          gather_facts: false
          tasks:
            - name: Boom
              ansible.builtin.fail:
                msg: broken on purpose
    """))
    inv = write_local_inventory(tmp_path)
    res = run_playbook(pb, {}, inventory=inv, expect_failure=True)
    assert res.failed and res.rc != 0
    assert res.result("Boom")["msg"] == "broken on purpose"
    with pytest.raises(AssertionError, match="broken on purpose"):
        run_playbook(pb, {}, inventory=inv)


def test_collection_module_utils_importable():
    import ansible_collections.vapor.ops  # noqa: F401  (namespace from <repo>/collections)

    assert any(p.endswith("collections") for p in __import__("sys").path)
