# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/storage_dump.yml through ansible-playbook, on real storage: a local file system, a real
XRootD server, a DPM namespace in a real MariaDB and a dCache Chimera namespace in a real PostgreSQL.

Every source runs check mode first (prediction, nothing written), then the real run, then a second
run that must report no change; the published dump is read back and compared with what was seeded.
"""

from __future__ import annotations

import os
import time

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

PLAYBOOK = "playbooks/storage_dump.yml"
TASK = "Scan the storage element and publish the dump"
NOW = int(time.time())
OLD = NOW - 30 * 86400

# relative path -> (size, mtime, adler32)
FILES = {
    "store/mc/a.root": (100, OLD, "0a1b2c3d"),
    "store/mc/sub/deeper/b.root": (2000, OLD, "00000001"),
    "store/data/c.root": (30, OLD, "ffffffff"),
    "store/user/with space.root": (7, OLD, "12345678"),
    "store/user/ünïcödé.root": (8, OLD, "abcdef01"),
    "store/user/pi|pe.root": (9, OLD, "00abcdef"),     # the cms format cannot carry '|'
    "store/temp/transfer.root": (5, OLD, "00000005"),  # ignored
    "store/mc/young.root": (6, NOW, "00000006"),       # younger than min_age
}
EXPECTED = ["/store/data/c.root", "/store/mc/a.root", "/store/mc/sub/deeper/b.root",
            "/store/user/with space.root", "/store/user/ünïcödé.root"]
COMMON = {"storage_dump_format": "cms", "storage_dump_min_age": "1h",
          "storage_dump_ignore": ["^/store/temp/"], "storage_dump_compression": "gzip", "storage_dump_keep": 3}


def inventory(tmp_path, python=None):
    return ansible_runner.write_local_inventory(tmp_path / "inv.yml", group="storage", python=python)


def cycle(run_playbook, inv, extra, dest):
    """check -> real -> again; returns the module result of the real run."""
    check = run_playbook(PLAYBOOK, extra, check=True, diff=True, inventory=inv)
    assert check.changed == 1, check.explain()
    res = check.result(TASK)
    assert res["files"] == len(EXPECTED)
    assert os.listdir(dest) == [], "check mode wrote something"
    assert res["diff"]["before"]["dumps"] == [] and res["diff"]["after"]["dumps"] == [res["name"]]
    # the job artifact, by host; in check mode without the paths of what was not written
    artifact = check.json["global_custom_stats"]["vapor_storage_dump"]["localhost"]
    assert artifact["files"] == len(EXPECTED) and "dump" not in artifact and "diff" not in artifact

    real = run_playbook(PLAYBOOK, extra, inventory=inv)
    assert real.changed == 1, real.explain()
    res = real.result(TASK)
    artifact = real.json["global_custom_stats"]["vapor_storage_dump"]["localhost"]
    assert artifact["dump"] == res["dump"] and "invocation" not in artifact
    assert res["published"] and res["files"] == len(EXPECTED)
    assert res["excluded"]["young"] == 1 and res["excluded"]["ignored"] == 1
    assert res["excluded"]["unrepresentable"] == 1
    assert any("cms format cannot carry" in str(w) for w in res.get("warnings", [])), res.get("warnings")

    again = run_playbook(PLAYBOOK, extra, inventory=inv)
    assert again.changed == 0, again.explain()
    assert not again.result(TASK)["published"]
    return res


def check_dump(res, with_checksums=True):
    assert res["name"].endswith(".gz")
    entries = {e.path: e for e in read_dump(res["dump"])}
    assert sorted(entries) == EXPECTED
    for path, e in entries.items():
        size, mtime, csum = FILES["store" + path[len("/store"):]]
        assert e.size == size and e.mtime == mtime
        assert e.checksum == (csum if with_checksums else None)
    latest = os.path.join(os.path.dirname(res["dump"]), "latest")
    assert os.readlink(latest) == res["name"]


# ------------------------------------------------------------------------------------------------
# the four sources

@pytest.mark.compat
def test_posix(tmp_path, run_playbook):
    root = tmp_path / "storage" / "vo"
    for rel, (size, mtime, _c) in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"z" * size)
        os.utime(p, (mtime, mtime))
    dest = tmp_path / "dumps"
    dest.mkdir()
    extra = dict(COMMON, storage_dump_source="posix", storage_dump_roots=[str(root)],
                 storage_dump_strip_prefix=str(root), storage_dump_dest=str(dest))
    res = cycle(run_playbook, inventory(tmp_path), extra, str(dest))
    check_dump(res, with_checksums=False)
    assert res["roots"][0]["files"] == len(EXPECTED)


def seed_xrootd(xrootd, top, files=FILES):
    xrootd.seed({"%s/%s" % (top.strip("/"), rel): b"z" * size for rel, (size, _m, _c) in files.items()},
                mtime={"%s/%s" % (top.strip("/"), rel): m for rel, (_s, m, _c) in files.items()})


@pytest.mark.compat
def test_xrootd(tmp_path, run_playbook, xrootd, xrootd_dir):
    seed_xrootd(xrootd, xrootd_dir)
    dest = tmp_path / "dumps"
    dest.mkdir()
    extra = dict(COMMON, storage_dump_source="xrootd", storage_dump_url=xrootd.url,
                 storage_dump_roots=[xrootd_dir + "/store"], storage_dump_strip_prefix=xrootd_dir,
                 storage_dump_dest=str(dest), storage_dump_checksum="server")
    # the XRootD binding is built for Debian's Python, as python3-xrootd is on EL9
    res = cycle(run_playbook, inventory(tmp_path, python="/usr/bin/python3"), extra, str(dest))
    # checksums asked from the server are the adler32 of the content, not the seeded values
    entries = {e.path: e for e in read_dump(res["dump"])}
    assert sorted(entries) == EXPECTED
    import zlib
    for path, e in entries.items():
        size = FILES["store" + path[len("/store"):]][0]
        assert e.size == size and e.checksum == "%08x" % (zlib.adler32(b"z" * size) & 0xffffffff)


def test_xrootd_listing_in_child_processes_gives_the_same_dump(tmp_path, run_playbook, xrootd, xrootd_dir):
    """A listing budget of a few entries moves almost the whole scan into child processes (which bound the
    memory the XRootD binding keeps); the dump is the same as an in-process scan's."""
    seed_xrootd(xrootd, xrootd_dir)
    inv = inventory(tmp_path, python="/usr/bin/python3")
    dumps = []
    for budget in (500000, 2):
        dest = tmp_path / ("dumps-%d" % budget)
        dest.mkdir()
        extra = dict(COMMON, storage_dump_source="xrootd", storage_dump_url=xrootd.url,
                     storage_dump_roots=[xrootd_dir + "/store"], storage_dump_strip_prefix=xrootd_dir,
                     storage_dump_dest=str(dest), storage_dump_listing_budget=budget)
        res = run_playbook(PLAYBOOK, extra, inventory=inv).result(TASK)
        assert res["files"] == len(EXPECTED)
        dumps.append(sorted((e.path, e.size, e.mtime) for e in read_dump(res["dump"])))
    assert dumps[0] == dumps[1] and [p for p, _s, _m in dumps[0]] == EXPECTED


DPM_TOP = "/dpm/example.org/home/vo"


def dpm_db(mariadb, name):
    info = mariadb.conninfo(name)
    return {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
            "database": name}


@pytest.mark.compat
def test_dpm(tmp_path, run_playbook, mariadb, cns_db):
    # a directory moved under a newer parent: its fileid is larger than its children's
    seed.seed_dpm(mariadb, cns_db, [("%s/%s" % (DPM_TOP, rel), s, m, "AD", c) for rel, (s, m, c) in FILES.items()],
                  dirs={DPM_TOP + "/store/mc/sub": 900000})
    # another VO's files, outside the root, never appear
    seed.seed_dpm(mariadb, cns_db, [("/dpm/example.org/home/other/x.root", 1, OLD, "AD", "1")])
    # DOME keeps the checksum only in the xattr JSON for some files
    mariadb.execute("UPDATE Cns_file_metadata SET csumtype='', csumvalue='', "
                    "xattr='{\"checksum.adler32\":\"0a1b2c3d\"}' WHERE name='a.root'", db=cns_db)
    dest = tmp_path / "dumps"
    dest.mkdir()
    extra = dict(COMMON, storage_dump_source="dpm", storage_dump_db=dpm_db(mariadb, cns_db),
                 storage_dump_roots=[DPM_TOP], storage_dump_strip_prefix=DPM_TOP, storage_dump_dest=str(dest))
    res = cycle(run_playbook, inventory(tmp_path), extra, str(dest))
    check_dump(res)
    # the password is never shown
    assert mariadb.password not in str(res.get("invocation", ""))


DCACHE_TOP = "/pnfs/example.org/data/vo"


def test_dcache(tmp_path, run_playbook, postgres, chimera_db):
    seed.seed_chimera(postgres, [("%s/%s" % (DCACHE_TOP, rel), s, m, c) for rel, (s, m, c) in FILES.items()],
                      dbname=chimera_db, dirs={DCACHE_TOP + "/store/mc/sub": 900000})
    seed.seed_chimera(postgres, [("/pnfs/example.org/data/other/x.root", 1, OLD, None)], dbname=chimera_db)
    dest = tmp_path / "dumps"
    dest.mkdir()
    info = postgres.conninfo(chimera_db)
    db = {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
          "database": chimera_db}
    extra = dict(COMMON, storage_dump_source="dcache", storage_dump_db=db, storage_dump_roots=[DCACHE_TOP],
                 storage_dump_strip_prefix=DCACHE_TOP, storage_dump_dest=str(dest))
    res = cycle(run_playbook, inventory(tmp_path), extra, str(dest))
    check_dump(res)


# ------------------------------------------------------------------------------------------------
# failures: one sentence, nothing published

def fail_once(run_playbook, tmp_path, extra, python=None):
    r = run_playbook(PLAYBOOK, extra, inventory=inventory(tmp_path, python=python), expect_failure=True)
    msg = r.result(TASK)["msg"]
    assert "\n" not in msg and msg.endswith(".")
    return msg


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dumps"
    d.mkdir()
    yield d
    assert os.listdir(d) == [], "a failed run left something in the dump directory"


@pytest.mark.compat
def test_dpm_wrong_password(tmp_path, run_playbook, mariadb, cns_db, dest):
    db = dict(dpm_db(mariadb, cns_db), password="wrong")
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="dpm", storage_dump_db=db,
                                                  storage_dump_dest=str(dest)))
    assert "refused the connection of user 'vapor': Access denied" in msg
    assert "wrong" not in msg.replace("wrong password", "")


def test_dcache_wrong_password(tmp_path, run_playbook, postgres, chimera_db, dest):
    info = postgres.conninfo(chimera_db)
    db = {"host": info["host"], "port": info["port"], "user": info["user"], "password": "wrong",
          "database": chimera_db}
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="dcache", storage_dump_db=db,
                                                  storage_dump_dest=str(dest)))
    assert "refused the connection of user 'vapor'" in msg and "password authentication failed" in msg


def test_dpm_missing_root(tmp_path, run_playbook, mariadb, cns_db, dest):
    seed.seed_dpm(mariadb, cns_db, [(DPM_TOP + "/a.root", 1, OLD, "AD", "1")])
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="dpm", storage_dump_db=dpm_db(mariadb, cns_db),
                                                  storage_dump_roots=["/dpm/example.org/home/nope"],
                                                  storage_dump_dest=str(dest)))
    assert "The root '/dpm/example.org/home/nope' is not a directory in the namespace" in msg


def test_xrootd_missing_root(tmp_path, run_playbook, xrootd, xrootd_dir, dest):
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="xrootd", storage_dump_url=xrootd.url,
                                                  storage_dump_roots=[xrootd_dir + "/nope"], storage_dump_dest=str(dest)),
                    python="/usr/bin/python3")
    assert "The XRootD root '%s/nope' on %s cannot be read" % (xrootd_dir, xrootd.url) in msg


def test_xrootd_server_down(tmp_path, run_playbook, dest):
    port = ansible_runner_free_port()
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="xrootd",
                                                  storage_dump_url="root://127.0.0.1:%d" % port,
                                                  storage_dump_roots=["/store"], storage_dump_timeout=5,
                                                  storage_dump_dest=str(dest)), python="/usr/bin/python3")
    assert "The XRootD root '/store' on root://127.0.0.1:%d cannot be read" % port in msg


def test_xrootd_failed_directory_after_retries(tmp_path, run_playbook, xrootd, xrootd_dir, dest):
    seed_xrootd(xrootd, xrootd_dir, {"store/ok/a.root": (1, OLD, None), "store/locked/b.root": (1, OLD, None)})
    locked = xrootd.path(xrootd_dir.strip("/") + "/store/locked")
    os.chown(locked, 0, 0)
    os.chmod(locked, 0o700)      # the server (an unprivileged user) cannot list it
    extra = dict(storage_dump_source="xrootd", storage_dump_url=xrootd.url, storage_dump_roots=[xrootd_dir],
                 storage_dump_retries=1, storage_dump_dest=str(dest))
    msg = fail_once(run_playbook, tmp_path, extra, python="/usr/bin/python3")
    assert "nothing was published" in msg and "could not be listed after 2 attempts" in msg
    assert "%s/store/locked" % xrootd_dir in msg
    # tolerated when the site allows it, and reported
    ok = run_playbook(PLAYBOOK, dict(extra, storage_dump_max_errors=1), inventory=inventory(tmp_path, "/usr/bin/python3"))
    res = ok.result(TASK)
    assert res["files"] == 1 and len(res["errors"]) == 1
    for name in os.listdir(dest):
        os.unlink(os.path.join(dest, name))


def test_posix_unreadable_root(tmp_path, run_playbook, dest):
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="posix", storage_dump_roots=[str(tmp_path / "nope")],
                                                  storage_dump_dest=str(dest)))
    assert "The root '%s' cannot be read: No such file or directory." % (tmp_path / "nope") == msg


def test_posix_empty_mount_publishes_nothing(tmp_path, run_playbook, dest):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    msg = fail_once(run_playbook, tmp_path, dict(storage_dump_source="posix", storage_dump_roots=[str(mnt)],
                                                  storage_dump_dest=str(dest)))
    assert "found 0 files, fewer than min_files=1; nothing was published" in msg


def ansible_runner_free_port():
    from servers import free_port
    return free_port()
