# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""More hostile cases for the dump writers (issue 8): se_dump on posix roots with bind mounts, overlapping
roots, roots outside strip_prefix, files dated in the future, a full dump directory, something else at the
dump's name, and the storage_dump runner fed NaN.

Each case is a function taking the ``env`` of test_hostile_dumps (a storage area and a dump directory holding
one earlier dump and its latest link); the refusals assert one sentence and an unchanged snapshot of the
storage and the dump directory, the successes the exact dump.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys

import pytest

from test_hostile_dumps import (  # noqa: F401  (env is a fixture)
    OLD, OLD_DUMP, PYTHON, STORAGE, core, dump_paths, env, one_sentence, snapshot, _runner)

ROOT_ONLY = os.geteuid() != 0


def today_name(pattern="dump_%Y%m%d"):
    return datetime.datetime.now(datetime.timezone.utc).strftime(pattern)


def ok(params, **kw):
    out = core("se_dump", params, **kw)
    assert out["ok"], out
    return out["result"]


# ------------------------------------------------------------------------------------------------
# what the dump lists

def future_mtime_listed_with_min_age(env):
    """A file dated in the future (a wrong clock, touch -d) was 'young' for ever with min_age set: missing from
    every dump, it would be called lost. It is listed, with a warning."""
    f = env.root / "vo/mc/future.root"
    f.write_bytes(b"f")
    os.utime(f, (OLD, 4102444800))          # 2100-01-01
    for workers in (1, 3):
        res = ok(env.params(min_age="1d", workers=workers, name="w%d_%%Y%%m%%d" % workers))
        assert dump_paths(res) == sorted(env.expected() + ["/vo/mc/future.root"])
        if workers == 1:
            assert any("modification time later than now plus min_age" in w for w in res["warnings"]), res
    young = env.root / "vo/mc/young.root"   # a file written a minute ago stays out
    young.write_bytes(b"y")
    res = ok(env.params(min_age="1d", name="y_%Y%m%d"))
    assert "/vo/mc/young.root" not in dump_paths(res) and res["excluded"]["young"] == 1


def root_outside_strip_prefix(env):
    """Two roots, the second not under strip_prefix: its files were all dropped as 'outside', silently."""
    other = env.base / "other"
    (other / "x").mkdir(parents=True)
    (other / "x" / "f.root").write_bytes(b"1")
    env.refused(r"^The root '.*/other' is not inside strip_prefix '.*/storage', so every one of its files would be "
                r"left out of the dump \(and look lost\); nothing was published\. Give roots inside strip_prefix\.$",
                params=env.params(roots=[str(env.root), str(other)]), watch=[other])


def root_inside_another_root(env):
    """Roots /storage and /storage/vo: every file under vo was listed twice."""
    env.refused(r"^The roots '.*/storage' and '.*/storage/vo' overlap \(one is the other or lies inside it, by their "
                r"real paths or through a bind mount\), so their files would be listed twice; give each directory "
                r"once\.$", params=env.params(roots=[str(env.root), str(env.root / "vo")], strip_prefix=None))


def root_given_twice_via_symlink(env):
    link = env.base / "alias"
    os.symlink(env.root, link)
    env.refused(r"^The roots '.*/storage' and '.*/alias' overlap", params=env.params(
        roots=[str(env.root), str(link)], strip_prefix=None), watch=[link])


def _bind(src, dst, recursive=False):
    subprocess.run(["mount", "--rbind" if recursive else "--bind", str(src), str(dst)], check=True)
    return lambda: subprocess.run(["umount", "-R" if recursive else "-l", str(dst)], check=False)


def _bind_case(env, source, recursive, workers):
    """A bind mount inside the root showing a directory the scan walks already: its files were listed a second
    time under the mount point's path (copies that look dark: deleting one deletes the real file)."""
    loop = env.root / "vo" / "loop"
    loop.mkdir()
    undo = _bind(source, loop, recursive)
    try:
        res = ok(env.params(workers=workers))
        assert dump_paths(res) == env.expected(), res
        assert res["left_out"] == [str(loop)]
        assert any("is a mount point that shows again" in w for w in res["warnings"]), res["warnings"]
    finally:
        undo()


def bind_mount_of_the_root_inside_it(env):
    _bind_case(env, env.root, False, 1)


def rbind_mount_of_a_subtree_parallel_scan(env):
    _bind_case(env, env.root / "vo", True, 3)


def bind_mount_of_outside_directory_is_listed(env):
    """A bind mount of a directory outside the roots is storage reached through the root: listed."""
    extra = env.base / "extra"
    extra.mkdir()
    (extra / "e.root").write_bytes(b"e")
    os.utime(extra / "e.root", (OLD, OLD))
    mnt = env.root / "vo" / "extra"
    mnt.mkdir()
    undo = _bind(extra, mnt)
    try:
        res = ok(env.params())
        assert dump_paths(res) == sorted(env.expected() + ["/vo/extra/e.root"]) and res["left_out"] == []
    finally:
        undo()


def unmounted_fstab_mount_point(env):
    """A file system declared in fstab below a root but not mounted: an empty directory, and every one of its
    files would look lost. The core refuses (checked with a site fstab, as /etc/fstab cannot be edited here)."""
    from ansible_collections.vapor.ops.plugins.module_utils._storage.posix import unmounted_mount_points
    disk = env.root / "vo" / "disk2"
    disk.mkdir()
    fstab = env.base / "fstab"
    fstab.write_text("# comment\n/dev/sdz1 %s xfs defaults 0 0\n/dev/sdy1 none swap sw 0 0\n"
                     "/dev/sdx1 /elsewhere xfs defaults 0 0\n" % str(disk).replace(" ", "\\040"))
    assert unmounted_mount_points([str(env.root)], fstab=str(fstab)) == [str(disk)]
    assert unmounted_mount_points([str(env.base / "other")], fstab=str(fstab)) == []
    undo = _bind(env.base, disk) if not ROOT_ONLY else None   # once mounted, nothing is missing
    try:
        if undo:
            assert unmounted_mount_points([str(env.root)], fstab=str(fstab)) == []
    finally:
        if undo:
            undo()


# ------------------------------------------------------------------------------------------------
# what is at the dump's name, the dump directory full

def _taken(env, make, kind):
    target = env.dest / today_name()
    make(target)
    outside = env.base / "precious"
    env.refused(r"^The dump's name '.*/dumps/%s' is taken by %s, not by a published dump; nothing was published\. "
                r"Move it away or choose another name pattern\.$" % (target.name, kind),
                params=env.params(), watch=[outside])


def dump_name_taken_by_directory(env):
    _taken(env, lambda t: t.mkdir(), "a directory")


def dump_name_taken_by_symlink_outside(env):
    precious = env.base / "precious"
    precious.write_text("precious\n")
    _taken(env, lambda t: os.symlink(precious, t), "a symbolic link")
    assert precious.read_text() == "precious\n"


def dump_name_taken_by_fifo(env):
    """(The snapshot would block reading the fifo: the directory listing is compared instead.)"""
    target = env.dest / today_name()
    os.mkfifo(target)
    before = sorted(os.listdir(env.dest))
    for check in (True, False):
        out = core("se_dump", env.params(), check=check)
        assert not out["ok"], out
        one_sentence(out["msg"], r"^The dump's name '.*/dumps/%s' is taken by a special file, not by a published "
                                 r"dump; nothing was published\. Move it away" % target.name)
        assert sorted(os.listdir(env.dest)) == before


def name_pattern_is_the_latest_link(env):
    env.refused(r"^The name pattern 'latest' is the latest link's name as well; give the dumps and the link "
                r"different names\.$", params=env.params(name="latest"))


def dest_full(env):
    """A dump directory with no room left: one sentence, no half dump, the earlier dump and link stay."""
    for i in range(400):
        p = env.root / "vo" / "many" / ("%04d_%s.root" % (i, "x" * 150))
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"")
        os.utime(p, (OLD, OLD))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(env.dest)], check=True)
    try:
        env.publish_old(env.dest)
        for workers in (1, 3):
            env.refused(r"^The dump could not be written in the dump directory '.*/dumps': No space left on device; "
                        r"nothing was published and the dumps already there were kept\.$",
                        params=env.params(workers=workers, keep=1), check_too=False)
            assert sorted(os.listdir(env.dest)) == [OLD_DUMP, "latest"]
    finally:
        subprocess.run(["umount", "-l", str(env.dest)], check=False)


def runner_min_age_nan(env):
    """The runner's JSON may hold NaN (Python reads it): one sentence, not a traceback."""
    before = snapshot(env.root, env.dest)
    cfg = env.base / "nan.json"
    params = env.params()
    cfg.write_text(json.dumps(params)[:-1] + ', "min_age": NaN}')
    p = subprocess.run([PYTHON, str(_runner.__globals__["RUNNER"]), "--config", str(cfg)], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, VAPOR_OPS_INSTALL_DIR=_runner.__globals__[
                           "COLLECTIONS"]))
    assert p.returncode == 1, p.stderr
    line = p.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"vapor-se-dump: The min_age 'nan' is not a duration; give a number of seconds or a value "
                        r"such as '7d', '12h'\.", line), p.stderr
    assert snapshot(env.root, env.dest) == before


def add_prefix_with_dotdot(env):
    env.refused(r"^The add_prefix '/x/\.\./\.\.' has a '\.\.' component; give the prefix without '\.\.'\.$",
                params=env.params(add_prefix="/x/../.."))


def dpm_rows_without_usable_names(env):
    """DPNS rows with a NULL, empty, '.' or '..' name or one holding '/', and files in such directories: the whole
    dump failed with "can only concatenate str (not NoneType)"; a '..' or 'x/y' name would have been written as a
    path that is no file. They are left out and counted; the good files are listed, by both DPM paths."""
    import seed
    from test_hostile_dumps import _db
    mariadb, db = env.fixture("mariadb"), env.fixture("cns_db")
    seed.seed_dpm(mariadb, db, [("/dpm/ex/home/vo/a.root", 1, OLD), ("/dpm/ex/home/vo/d/b.root", 2, OLD)])
    ids = dict((r[1], r[0]) for r in mariadb.execute("SELECT fileid, name FROM Cns_file_metadata", db=db))
    rows = [(9001, ids["vo"], None, 0o100644), (9002, ids["vo"], "x/y", 0o100644), (9003, ids["vo"], "..", 0o100644),
            (9004, ids["vo"], "", 0o100644), (9008, ids["vo"], None, 0o040755), (9009, 9008, "in_null", 0o100644),
            (9010, ids["vo"], ".", 0o040755), (9011, 9010, "in_dot", 0o100644)]
    for fid, pid, name, mode in rows:
        mariadb.execute("INSERT INTO Cns_file_metadata (fileid, parent_fileid, name, filemode, nlink, owner_uid, gid, "
                        "filesize, atime, mtime, ctime, fileclass, status, csumtype, csumvalue) VALUES (%s, %s, %s, "
                        "%s, 1, 0, 0, 1, 0, %s, 0, 0, '-', 'AD', '0000000a')", (fid, pid, name, mode, OLD), db=db)
    for fmt in ("text", "cms"):
        for extra in ({}, {"min_age": "1h"}):       # the fast path, and the row path
            res = ok(dict({"source": "dpm", "db": _db(mariadb, db), "roots": ["/dpm/ex/home/vo"],
                           "strip_prefix": "/dpm/ex/home/vo", "dest": str(env.dest), "format": fmt,
                           "name": "d_%s_%d" % (fmt, len(extra))}, **extra))
            assert dump_paths(res) == ["/a.root", "/d/b.root"], res
            assert res["excluded"]["unrepresentable"] == 6, res


NEEDS_ROOT = {"bind_mount_of_the_root_inside_it", "rbind_mount_of_a_subtree_parallel_scan",
              "bind_mount_of_outside_directory_is_listed", "dest_full"}

CASES = [
    future_mtime_listed_with_min_age, root_outside_strip_prefix, root_inside_another_root,
    root_given_twice_via_symlink, bind_mount_of_the_root_inside_it, rbind_mount_of_a_subtree_parallel_scan,
    bind_mount_of_outside_directory_is_listed, unmounted_fstab_mount_point,
    dump_name_taken_by_directory, dump_name_taken_by_symlink_outside, dump_name_taken_by_fifo,
    name_pattern_is_the_latest_link, dest_full, runner_min_age_nan, add_prefix_with_dotdot,
    dpm_rows_without_usable_names,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_hostile_more(case, env):
    if case.__name__ in NEEDS_ROOT and ROOT_ONLY:
        pytest.skip("mounting needs root")
    case(env)
