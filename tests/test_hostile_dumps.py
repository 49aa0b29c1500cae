# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hostile catalogue of the dump writers (issue 8 §3/§4): se_dump on every source, catalog_dump's output,
playbooks/storage_dump.yml and the storage_dump role's scheduled runner.

Each case is one row of CASES: bad input or a fault as a careful but hostile site admin would produce it.
Every row asserts the one sentence (a regular expression, on one line) or the correct result, AND compares a
snapshot of what must not change (the storage, the dump directory with its published dumps and latest link,
anything next to it) taken before and after.

The core runs in a subprocess (``python -c``) as a user would run the module: as root, as ``nobody`` through
``setpriv`` for the permission cases, and with the system Python for the XRootD binding. The playbook rows
drive ``ansible-playbook playbooks/storage_dump.yml`` (check, real, again); the role rows run the runner the
role installs (``files/vapor-se-dump``) with the same configuration file the role writes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump
from servers import free_port

REPO = ansible_runner.REPO
COLLECTIONS = str(REPO / "collections")
PYTHON = ansible_runner.local_python()
SYSTEM_PYTHON = "/usr/bin/python3"        # the XRootD binding is the distribution's
RUNNER = REPO / "collections/ansible_collections/vapor/ops/roles/storage_dump/files/vapor-se-dump"
PLAYBOOK = "playbooks/storage_dump.yml"
TASK = "Scan the storage element and publish the dump"
NOW = int(time.time())
OLD = NOW - 30 * 86400
OLD_DUMP = "dump_20200101"

# the storage every posix case starts from: relative path -> size
STORAGE = {"vo/mc/a.root": 10, "vo/mc/sub/b.root": 20, "vo/data/c.root": 30, "vo/data/d.root": 40}

CORE = r"""
import json, os, signal, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
kind, params, check, kill = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == '1', sys.argv[5] == '1'
if kill:   # SIGKILL this process in the middle of the scan, after the temporary file was started
    from ansible_collections.vapor.ops.plugins.module_utils._storage import sink as _scan
    _add_many = _scan.EntrySink.add_many
    def add_many(self, root_idx, entries):
        _add_many(self, root_idx, entries)
        os.kill(os.getpid(), signal.SIGKILL)
    _scan.EntrySink.add_many = add_many
if kind == 'se_dump':
    from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump import run
else:
    from ansible_collections.vapor.ops.plugins.module_utils._catalog.dump import run_catalog_dump as run
try:
    out = {'ok': True, 'result': run(params, check_mode=check)}
except VaporError as exc:
    out = {'ok': False, 'msg': exc.msg}
print(json.dumps(out, default=str))
"""


# ------------------------------------------------------------------------------------------------
# helpers

def core_cmd(kind, params, check=False, python=PYTHON, user=None, kill=False):
    cmd = [python, "-c", CORE, COLLECTIONS, kind, json.dumps(params), "1" if check else "0", "1" if kill else "0"]
    if user:
        cmd = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups", "--"] + cmd
    return cmd


def core(kind, params, check=False, python=PYTHON, user=None, kill=False):
    """Run the se_dump or catalog_dump core in a fresh process; {'ok', 'result' | 'msg'} (or rc on a kill)."""
    p = subprocess.run(core_cmd(kind, params, check, python, user, kill), capture_output=True, text=True,
                       timeout=300)
    if kill:
        return {"rc": p.returncode}
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def snapshot(*dirs):
    """{path: what it is} for everything under the directories: files by content and mode, links by target."""
    out = {}
    for top in dirs:
        top = str(top)
        if not os.path.lexists(top):
            out[top] = None
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for name in [""] + dirnames + filenames:
                p = os.path.join(dirpath, name) if name else dirpath
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    out[p] = ("link", os.readlink(p))
                elif stat.S_ISDIR(st.st_mode):
                    out[p] = ("dir", stat.S_IMODE(st.st_mode))
                else:
                    with open(p, "rb") as f:
                        out[p] = ("file", hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(st.st_mode))
    return out


def one_sentence(msg, pattern):
    assert "\n" not in msg and msg.endswith("."), msg
    assert "Traceback" not in msg
    assert re.search(pattern, msg), "%r does not match %r" % (msg, pattern)


class Env:
    """A storage area and a dump directory holding one earlier published dump and its latest link."""

    def __init__(self, base: Path, request):
        self.base = base
        self.request = request
        self.root = base / "storage"
        for rel, size in STORAGE.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x" * size)
            os.utime(p, (OLD, OLD))
        self.dest = base / "dumps"
        self.publish_old(self.dest)

    @staticmethod
    def publish_old(dest):
        dest.mkdir(parents=True, exist_ok=True)
        (dest / OLD_DUMP).write_text("/old/dump/line\n")
        os.chmod(dest / OLD_DUMP, 0o644)
        if not os.path.lexists(dest / "latest"):
            os.symlink(OLD_DUMP, dest / "latest")

    def params(self, **kw):
        p = {"source": "posix", "roots": [str(self.root)], "strip_prefix": str(self.root), "dest": str(self.dest),
             "workers": 1}
        p.update(kw)
        return p

    def expected(self):
        return sorted("/" + rel for rel in STORAGE)

    def fixture(self, name):
        return self.request.getfixturevalue(name)

    def refused(self, pattern, kind="se_dump", watch=(), check_too=True, **run):
        """The run (check mode first, then real) fails with one sentence and changes nothing watched."""
        params = run.pop("params")
        watched = [self.root, self.dest, *watch]
        before = snapshot(*watched)
        modes = (True, False) if check_too else (False,)
        for check in modes:
            out = core(kind, params, check=check, **run)
            assert not out["ok"], "check=%s: expected a refusal, got %r" % (check, out.get("result"))
            one_sentence(out["msg"], pattern)
            assert snapshot(*watched) == before, "check=%s changed something" % check
            print("[%s] %s" % ("check" if check else "real", out["msg"]))
        return out["msg"]


def dump_paths(result):
    return sorted(e.path for e in read_dump(result["dump"]))


@pytest.fixture
def env(request):
    base = Path(tempfile.mkdtemp(prefix="vapor-hostile-", dir=os.environ.get("VAPOR_TEST_TMPDIR", "/tmp")))
    os.chmod(base, 0o755)
    yield Env(base, request)
    shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# se_dump, posix: the dump directory and the roots

def dest_equals_root(env):
    env.publish_old(env.root)
    env.refused(r"^The dump directory '.*/storage' is the root '.*/storage' itself, so the dump would list its own "
                r"files; publish into a directory outside the roots\.$",
                params=env.params(dest=str(env.root), strip_prefix=None))


def _inside(env, workers, via_link=False):
    """dest inside the root: left out of the scan, said in a warning; earlier dumps stay and are never listed."""
    dest = env.root / "vo" / "dumps"
    env.publish_old(dest)
    root = env.root
    if via_link:      # the root given through a symbolic link, dest by its real path
        root = env.base / "storage-link"
        os.symlink(env.root, root)
    params = env.params(roots=[str(root)], strip_prefix=str(root), dest=str(dest), workers=workers)
    storage_before = snapshot(*[p for p in env.root.iterdir()])
    for round_, check in enumerate((True, False, False)):
        out = core("se_dump", params, check=check)
        assert out["ok"], out
        res = out["result"]
        assert res["left_out"] == [str(root) + "/vo/dumps"]
        assert any("is inside the root" in w and "left out of the scan" in w for w in res["warnings"])
        assert res["files"] == len(STORAGE)
        if check:
            assert sorted(os.listdir(dest)) == [OLD_DUMP, "latest"]
        else:
            assert dump_paths(res) == env.expected()
            assert res["changed"] == (round_ == 1)
    # the earlier dump is still there, unchanged; nothing else in the storage moved
    assert (dest / OLD_DUMP).read_text() == "/old/dump/line\n"
    storage_after = snapshot(*[p for p in env.root.iterdir()])
    assert {k: v for k, v in storage_after.items() if "/vo/dumps" not in k} == \
        {k: v for k, v in storage_before.items() if "/vo/dumps" not in k}
    assert not [n for n in os.listdir(dest) if n.endswith(".tmp") or n.startswith(".vapor-scan")]


def dest_inside_root(env):
    _inside(env, workers=1)


def dest_inside_root_parallel_scan(env):
    for i in range(40):        # enough directories for the scan to fan out to worker processes
        (env.root / "vo" / ("d%02d" % i)).mkdir()
    _inside(env, workers=4)


def dest_inside_root_through_symlinked_root(env):
    _inside(env, workers=1, via_link=True)


def dest_is_a_file(env):
    f = env.base / "dumpfile"
    f.write_text("not a directory\n")
    env.refused(r"^The dump directory '.*/dumpfile' is not a directory \(it is a file\); give the directory the "
                r"dumps are published in\.$", params=env.params(dest=str(f)), watch=[f])


def dest_missing(env):
    env.refused(r"^The dump directory '.*/nope' does not exist; create it first",
                params=env.params(dest=str(env.base / "nope")))
    assert not (env.base / "nope").exists()


def dest_unwritable_nonroot(env):
    for d in [env.root, *env.root.rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    os.chmod(env.dest, 0o755)       # root's, not writable by nobody
    env.refused(r"^The dump directory '.*/dumps' is not writable by this user \(uid \d+\)\.$",
                params=env.params(), user="nobody")


def root_missing(env):
    env.refused(r"^The root '.*/storage/none' cannot be read: No such file or directory\.$",
                params=env.params(roots=[str(env.root / "none")]))


def root_is_a_file(env):
    env.refused(r"^The root '.*/storage/vo/mc/a.root' is not a directory\.$",
                params=env.params(roots=[str(env.root / "vo/mc/a.root")]))


def root_dangling_symlink(env):
    link = env.base / "mnt"
    os.symlink(env.base / "gone", link)
    env.refused(r"^The root '.*/mnt' is a symbolic link to '.*/gone', which does not exist\.$",
                params=env.params(roots=[str(link)]), watch=[link])


def root_unreadable_nonroot(env):
    os.chmod(env.dest, 0o777)
    os.chmod(env.root, 0o700)      # root's own, nobody cannot list it
    env.refused(r"^The root '.*/storage' cannot be read: Permission denied\.$", params=env.params(), user="nobody")


def root_empty_mount_point(env):
    """An unmounted area is an empty directory: nothing is published, the earlier dump and link stay."""
    mnt = env.base / "mnt"
    mnt.mkdir()
    env.refused(r"^The scan of .*/mnt found 0 files, fewer than min_files=1; nothing was published \(an unmounted "
                r"or emptied storage area must not publish an empty dump\)\.$",
                params=env.params(roots=[str(mnt)], strip_prefix=None), watch=[mnt])


def one_of_two_roots_unmounted(env):
    """Two roots, one an empty mount point: the total passes min_files, yet every file of the second root would
    look lost, so nothing is published; min_files=0 lets a site publish a dump with an empty root on purpose."""
    mnt = env.base / "mnt"
    mnt.mkdir()
    env.refused(r"^The root '.*/mnt' is an empty directory \(an unmounted mount point looks like this\), so all its "
                r"files would look lost; nothing was published\. Set min_files to 0 to publish a dump with an empty "
                r"root\.$", params=env.params(roots=[str(env.root), str(mnt)], strip_prefix=None), watch=[mnt])
    out = core("se_dump", env.params(roots=[str(env.root), str(mnt)], strip_prefix=None, min_files=0))
    assert out["ok"] and out["result"]["files"] == len(STORAGE)


def subdirectory_unreadable_nonroot(env):
    for d in [env.root, *env.root.rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    os.chmod(env.dest, 0o777)
    os.chmod(env.root / "vo" / "data", 0o700)
    env.refused(r"^The scan failed, nothing was published: The directory '.*/vo/data' cannot be read: "
                r"Permission denied\.$", params=env.params(), user="nobody", check_too=False)


# ------------------------------------------------------------------------------------------------
# se_dump: options

def bad(case_id, pattern, **kw):
    def case(env):
        env.refused(pattern, params=env.params(**kw))
    case.__name__ = case_id
    return case


def latest_link_outside(env):
    outside = env.base / "elsewhere"
    outside.mkdir()
    env.refused(r"^The latest link name '\.\./elsewhere/latest' is not a plain file name in the dump directory "
                r"'.*/dumps' \(no '/', not '\.' or '\.\.'\); the link must be next to the dumps it points at\.$",
                params=env.params(latest_link="../elsewhere/latest"), watch=[outside])


def latest_link_absolute(env):
    outside = env.base / "elsewhere"
    outside.mkdir()
    env.refused(r"^The latest link name '/.*/elsewhere/latest' is not a plain file name",
                params=env.params(latest_link=str(outside / "latest")), watch=[outside])


def latest_link_is_a_directory(env):
    (env.dest / "current").mkdir()
    env.refused(r"^The latest link '.*/dumps/current' exists and is not a symbolic link; remove it or choose "
                r"another link name\.$", params=env.params(latest_link="current"), check_too=False)
    # the refused real run published nothing
    assert sorted(os.listdir(env.dest)) == sorted([OLD_DUMP, "latest", "current"])


def mode_applied_to_unchanged_dump(env):
    """An unchanged dump with another requested mode gets it, reports changed, and is unchanged next time."""
    first = core("se_dump", env.params(mode="0644"))["result"]
    assert first["published"] and stat.S_IMODE(os.stat(first["dump"]).st_mode) == 0o644
    content = Path(first["dump"]).read_bytes()
    check = core("se_dump", env.params(mode="0640"), check=True)["result"]
    assert check["changed"] and not check["published"]
    assert stat.S_IMODE(os.stat(first["dump"]).st_mode) == 0o644, "check mode changed the mode"
    second = core("se_dump", env.params(mode="0640"))["result"]
    assert second["changed"] and not second["published"] and second["mode"] == "0640"
    assert stat.S_IMODE(os.stat(first["dump"]).st_mode) == 0o640
    assert Path(first["dump"]).read_bytes() == content
    third = core("se_dump", env.params(mode="0640"))["result"]
    assert not third["changed"]


def killed_mid_run(env):
    """SIGKILLed in the middle of the scan: the temporary file is 0600, nothing is published, the earlier dump
    and latest link stay; the next run publishes the whole dump; what the killed run left is removed once it
    is two days old."""
    before = snapshot(env.dest)
    out = core("se_dump", env.params(mode="0644"), kill=True)
    assert out["rc"] == -signal.SIGKILL
    left = [n for n in os.listdir(env.dest) if str(env.dest / n) not in before]
    assert left and all(n.startswith(".dump_") and n.endswith(".tmp") for n in left), left
    for n in left:
        assert stat.S_IMODE(os.stat(env.dest / n).st_mode) == 0o600
    after = snapshot(env.dest)
    assert {k: v for k, v in after.items() if not k.endswith(".tmp")} == before
    res = core("se_dump", env.params())["result"]
    assert res["published"] and dump_paths(res) == env.expected()
    assert os.readlink(env.dest / "latest") == res["name"]
    # the killed run's temporary file stays while it might belong to a live run; once two days old it goes
    assert res["stale_removed"] == [] and all((env.dest / n).exists() for n in left)
    for n in left:
        os.utime(env.dest / n, (NOW - 3 * 86400, NOW - 3 * 86400))
    scratch = env.dest / ".vapor-scan-dead1234"      # a killed parallel scan's part files
    scratch.mkdir()
    (scratch / "part.000001").write_bytes(b"/half/written\n")
    os.utime(scratch / "part.000001", (NOW - 3 * 86400, NOW - 3 * 86400))
    os.utime(scratch, (NOW - 3 * 86400, NOW - 3 * 86400))
    unrelated = env.dest / ".other.0123456789abcdef.tmp"     # not a dump of this name pattern: kept
    unrelated.write_text("x")
    os.utime(unrelated, (NOW - 3 * 86400, NOW - 3 * 86400))
    check = core("se_dump", env.params(), check=True)["result"]
    assert check["changed"] and check["stale_removed"] == sorted(left + [scratch.name])
    assert scratch.exists() and all((env.dest / n).exists() for n in left)
    again = core("se_dump", env.params())["result"]
    assert again["changed"] and not again["published"] and again["stale_removed"] == sorted(left + [scratch.name])
    assert sorted(os.listdir(env.dest)) == sorted([OLD_DUMP, "latest", res["name"], unrelated.name])
    assert not core("se_dump", env.params())["result"]["changed"]


def repeated_runs_are_stable(env):
    runs = [core("se_dump", env.params(compression="gzip", keep=2))["result"] for _ in range(3)]
    assert [r["changed"] for r in runs] == [True, False, False]
    assert len({Path(r["dump"]).read_bytes() for r in runs}) == 1
    # keep=2: the earlier dump stays (it is the second newest)
    assert sorted(os.listdir(env.dest)) == sorted([OLD_DUMP, "latest", runs[0]["name"]])


def concurrent_runs_same_dest(env):
    """Two runs at once on the same dump directory: both succeed, one complete dump, no leftovers."""
    for i in range(300):
        p = env.root / "vo" / "bulk" / ("d%02d" % (i % 30)) / ("f%04d" % i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"y")
        os.utime(p, (OLD, OLD))
    params = env.params(keep=1, workers=2)
    procs = [subprocess.Popen(core_cmd("se_dump", params), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(o["ok"] for o in outs), outs
    names = {o["result"]["name"] for o in outs}
    assert len(names) == 1
    name = names.pop()
    assert sorted(os.listdir(env.dest)) == sorted([name, "latest"])
    assert len(dump_paths(outs[0]["result"])) == len(STORAGE) + 300
    assert os.readlink(env.dest / "latest") == name


# ------------------------------------------------------------------------------------------------
# se_dump: xrootd, dpm, dcache

def xrootd_params(env, xrootd, root, **kw):
    p = {"source": "xrootd", "url": xrootd.url, "roots": [root], "dest": str(env.dest), "timeout": 5, "retries": 0}
    p.update(kw)
    return p


def xrootd_dest_inside_export(env):
    """dest is a local directory the XRootD server exports inside the scanned root: the real run sees its own
    temporary file and refuses; nothing is published and the earlier files in dest stay."""
    xrootd = env.fixture("xrootd")
    top = xrootd.fresh_dir()
    xrootd.seed({top.strip("/") + "/store/a.root": b"a", top.strip("/") + "/store/b.root": b"bb"},
                mtime={top.strip("/") + "/store/a.root": OLD, top.strip("/") + "/store/b.root": OLD})
    dest = xrootd.path(top.strip("/") + "/store/dumps")
    env.publish_old(dest)
    os.chmod(dest, 0o755)
    env.dest = dest
    msg = env.refused(r"^The dump directory '.*/store/dumps' is inside the scanned namespace \(the scan listed this "
                      r"run's own temporary file '\.dump_\d{8}\.[0-9a-f]{16}\.tmp'\), so the dump would list its own "
                      r"files; nothing was published\. Publish outside the roots, or leave the directory out with "
                      r"ignore\.$", params=xrootd_params(env, xrootd, top + "/store"), python=SYSTEM_PYTHON,
                      check_too=False)
    assert msg
    # leaving it out with ignore is the remedy the sentence names
    out = core("se_dump", xrootd_params(env, xrootd, top + "/store", ignore=["/store/dumps/"]), python=SYSTEM_PYTHON)
    assert out["ok"], out
    assert dump_paths(out["result"]) == [top + "/store/a.root", top + "/store/b.root"]


def xrootd_server_down(env):
    port = free_port()
    env.refused(r"^The XRootD root '/store' on root://127\.0\.0\.1:%d cannot be read: " % port,
                params={"source": "xrootd", "url": "root://127.0.0.1:%d" % port, "roots": ["/store"],
                        "dest": str(env.dest), "timeout": 3, "retries": 0}, python=SYSTEM_PYTHON)


def xrootd_missing_root(env):
    xrootd = env.fixture("xrootd")
    env.refused(r"^The XRootD root '/no/such/dir' on root://.* cannot be read: ",
                params=xrootd_params(env, xrootd, "/no/such/dir"), python=SYSTEM_PYTHON)


def xrootd_bad_url(env):
    env.refused(r"^The XRootD URL 'http://example\.org/store' is not of the form root://host\[:port\]\[//path\]\.$",
                params={"source": "xrootd", "url": "http://example.org/store", "dest": str(env.dest)},
                python=SYSTEM_PYTHON)


def _db(server, database, **kw):
    info = server.conninfo(database)
    db = {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
          "database": database, "connect_timeout": 5}
    db.update(kw)
    return db


def _down(source):
    def case(env):
        port = free_port()
        env.refused(r"^The database server at 127\.0\.0\.1:%d cannot be reached \(is it running, and are host and "
                    r"port right\?\): (Can't connect to server on '127\.0\.0\.1' \(115\)|Connection refused)\.$" % port,
                    params={"source": source, "db": {"host": "127.0.0.1", "port": port, "user": "vapor",
                                                     "password": "secret-pw", "database": "x", "connect_timeout": 5},
                            "dest": str(env.dest)})
    case.__name__ = source + "_database_down"
    return case


def _wrong_password(source, server_fixture, db_fixture, cause):
    def case(env):
        server = env.fixture(server_fixture)
        dbname = env.fixture(db_fixture)
        msg = env.refused(r"^The database '%s' on 127\.0\.0\.1:\d+ refused the connection of user 'vapor': %s"
                          % (dbname, cause),
                          params={"source": source, "db": _db(server, dbname, password="wrong-secret"),
                                  "dest": str(env.dest)})
        assert "wrong-secret" not in msg
    case.__name__ = source + "_wrong_password"
    return case


def _unknown_db(source, server_fixture):
    def case(env):
        server = env.fixture(server_fixture)
        env.refused(r"^The database 'no_such_db' does not exist on the server at 127\.0\.0\.1:\d+\.$|"
                    r"^The database 'no_such_db' on the server at 127\.0\.0\.1:\d+ does not exist, or the user 'vapor' may not "
                    r"use it: Access denied for user 'vapor'@'%' to database 'no_such_db'\.$",
                    params={"source": source, "db": _db(server, "no_such_db"), "dest": str(env.dest)})
    case.__name__ = source + "_unknown_database"
    return case


def dpm_missing_tables(env):
    mariadb = env.fixture("mariadb")
    name = "hostile_empty_%d" % os.getpid()
    mariadb.create_database(name)
    try:
        env.refused(r"^The database '%s' on 127\.0\.0\.1:\d+ has no usable DPNS namespace \(Cns_file_metadata\): "
                    r"Table '%s\.Cns_file_metadata' doesn't exist\.$" % (name, name),
                    params={"source": "dpm", "db": _db(mariadb, name), "dest": str(env.dest)})
    finally:
        mariadb.drop_database(name)


def dcache_missing_tables(env):
    postgres = env.fixture("postgres")
    name = "hostile_empty_%d" % os.getpid()
    postgres.create_database(name)
    try:
        env.refused(r"^The database '%s' on 127\.0\.0\.1:\d+ has no usable Chimera namespace \(t_inodes\): "
                    r"relation \"t_inodes\" does not exist\.$" % name,
                    params={"source": "dcache", "db": _db(postgres, name), "dest": str(env.dest)})
    finally:
        postgres.drop_database(name)


def dpm_dest_inside_namespace_is_not_a_thing(env):
    """The DPM namespace lives in a database: a local dest cannot be inside it; a normal dump is made."""
    mariadb = env.fixture("mariadb")
    dbname = env.fixture("cns_db")
    top = "/dpm/example.org/home/vo"
    seed.seed_dpm(mariadb, dbname, [(top + "/a.root", 1, OLD, "AD", "00000001")])
    out = core("se_dump", {"source": "dpm", "db": _db(mariadb, dbname), "roots": [top], "dest": str(env.dest)})
    assert out["ok"], out
    assert dump_paths(out["result"]) == [top + "/a.root"] and out["result"]["left_out"] == []


# ------------------------------------------------------------------------------------------------
# catalog_dump: the same output checks (shared code in _publish.py)

SE = "se.example.org"
SRM = "srm://se.example.org:8446/srm/managerv2?SFN=/dpm/example.org/home/vo"


def sqlite_catalog(env):
    path = str(env.base / "catalog.db")
    cat_schema.create_sqlite_catalog(path)
    with cat_access.open_catalog({"backend": "sqlite", "path": path}) as c:
        for i in range(3):
            c.register_file("/grid/vo/f%d.root" % i, 10 + i, OLD, "0000000%d" % i,
                            [(SE, SRM + "/f%d.root" % i, "-")])
        c.register_file("/grid/vo/p.root", 5, OLD, None, [(SE, SRM + "/p.root", "P")])
    return {"backend": "sqlite", "path": path}


def cat_params(env, **kw):
    p = {"catalog": sqlite_catalog(env), "se": SE, "strip_prefix": "/dpm/example.org/home/vo",
         "dest": str(env.dest)}
    p.update(kw)
    return p


def catalog_dest_is_a_file(env):
    f = env.base / "catfile"
    f.write_text("x\n")
    env.refused(r"^The dump directory '.*/catfile' is not a directory \(it is a file\)", kind="catalog_dump",
                params=cat_params(env, dest=str(f)), watch=[f])


def catalog_dest_missing(env):
    env.refused(r"^The dump directory '.*/nope' does not exist; create it first", kind="catalog_dump",
                params=cat_params(env, dest=str(env.base / "nope")))


def catalog_latest_link_outside(env):
    env.refused(r"^The latest link name '\.\./latest' is not a plain file name in the dump directory",
                kind="catalog_dump", params=cat_params(env, latest_link="../latest"), watch=[env.base / "latest"])


def catalog_mode_decimal(env):
    env.refused(r"^The file mode 644 \(octal 1204\) is not a permission between 0000 and 0777 \(an unquoted 644 is "
                r"read as a decimal number; quote it, as in '0644'\)\.$", kind="catalog_dump",
                params=cat_params(env, mode=644))


def catalog_mode_applied_to_unchanged_dump(env):
    params = cat_params(env, mode="0644", latest_link="latest")
    first = core("catalog_dump", params)["result"]
    companion = first["inactive_list"]
    assert first["published"]
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (first["dump"], companion)] == [0o644, 0o644]
    second = core("catalog_dump", dict(params, mode="0600"))["result"]
    assert second["changed"] and not second["published"] and second["dump"] == first["dump"]
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (first["dump"], companion)] == [0o600, 0o600]
    third = core("catalog_dump", dict(params, mode="0600"))["result"]
    assert not third["changed"]


def catalog_dest_unwritable_nonroot(env):
    os.chmod(env.dest, 0o755)
    env.refused(r"^The dump directory '.*/dumps' is not writable by this user \(uid \d+\)\.$", kind="catalog_dump",
                params=cat_params(env), user="nobody")


def catalog_concurrent_runs_same_dest(env):
    """Two catalog dumps at once into one directory: both succeed, every published dump is complete and has its
    companion, nothing temporary is left."""
    params = cat_params(env, latest_link="latest")
    procs = [subprocess.Popen(core_cmd("catalog_dump", params), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(o["ok"] for o in outs), outs
    names = sorted(n for n in os.listdir(env.dest) if n.startswith("catalog_") and not n.endswith(".inactive"))
    assert names and not [n for n in os.listdir(env.dest) if n.endswith(".tmp")]
    for n in names:
        assert sorted(e.path for e in read_dump(str(env.dest / n))) == ["/f0.root", "/f1.root", "/f2.root"]
        assert [e.path for e in read_dump(str(env.dest / (n + ".inactive")))] == ["/p.root"]
    assert os.readlink(env.dest / "latest") in names
    assert (env.dest / OLD_DUMP).read_text() == "/old/dump/line\n"


def catalog_mysql_down(env):
    port = free_port()
    env.refused(r"^The database server at 127\.0\.0\.1:%d cannot be reached" % port, kind="catalog_dump",
                params=cat_params(env, catalog={"backend": "mysql", "host": "127.0.0.1", "port": port,
                                                "user": "vapor", "password": "pw", "database": "cns_db",
                                                "connect_timeout": 5}))


def catalog_mysql_unknown_database(env):
    mariadb = env.fixture("mariadb")
    spec = dict(_db(mariadb, "no_such_db"), backend="mysql")
    env.refused(r"^The database 'no_such_db' does not exist on the server at 127\.0\.0\.1:\d+\.$|"
                r"^The database 'no_such_db' on the server at 127\.0\.0\.1:\d+ does not exist, or the user 'vapor' may "
                r"not use it", kind="catalog_dump",
                params=cat_params(env, catalog=spec))


# ------------------------------------------------------------------------------------------------
# playbooks/storage_dump.yml, as a site admin runs it

def _inv(env):
    return ansible_runner.write_local_inventory(env.base / "inv.yml", group="storage")


def _extra(env, **kw):
    extra = {"storage_dump_source": "posix", "storage_dump_roots": [str(env.root)],
             "storage_dump_strip_prefix": str(env.root), "storage_dump_dest": str(env.dest)}
    extra.update(kw)
    return extra


def playbook_dest_inside_root(env):
    dest = env.root / "vo" / "dumps"
    env.publish_old(dest)
    env.dest = dest
    extra = _extra(env)
    inv = _inv(env)
    check = ansible_runner.run_playbook(PLAYBOOK, extra, check=True, diff=True, inventory=inv)
    assert check.changed == 1, check.explain()
    assert sorted(os.listdir(dest)) == [OLD_DUMP, "latest"]
    real = ansible_runner.run_playbook(PLAYBOOK, extra, inventory=inv)
    res = real.result(TASK)
    assert real.changed == 1 and res["left_out"] == [str(dest)], real.explain()
    assert any("left out of the scan" in w for w in res["warnings"])
    assert dump_paths(res) == env.expected()
    again = ansible_runner.run_playbook(PLAYBOOK, extra, inventory=inv)
    assert again.changed == 0, again.explain()
    assert (dest / OLD_DUMP).read_text() == "/old/dump/line\n"


def playbook_workers_zero(env):
    before = snapshot(env.root, env.dest)
    r = ansible_runner.run_playbook(PLAYBOOK, _extra(env, storage_dump_workers=0), inventory=_inv(env),
                                    expect_failure=True)
    one_sentence(r.result(TASK)["msg"], r"^The option workers is 0; it must be between 1 and 256 \(processes for "
                                        r"posix, listings in flight for xrootd\)\.$")
    assert snapshot(env.root, env.dest) == before


def playbook_mode_change(env):
    inv = _inv(env)
    first = ansible_runner.run_playbook(PLAYBOOK, _extra(env), inventory=inv)
    dump = first.result(TASK)["dump"]
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o644
    before = Path(dump).read_bytes()
    check = ansible_runner.run_playbook(PLAYBOOK, _extra(env, storage_dump_mode="0640"), check=True, inventory=inv)
    assert check.changed == 1 and stat.S_IMODE(os.stat(dump).st_mode) == 0o644
    real = ansible_runner.run_playbook(PLAYBOOK, _extra(env, storage_dump_mode="0640"), inventory=inv)
    assert real.changed == 1 and not real.result(TASK)["published"]
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o640 and Path(dump).read_bytes() == before
    again = ansible_runner.run_playbook(PLAYBOOK, _extra(env, storage_dump_mode="0640"), inventory=inv)
    assert again.changed == 0, again.explain()


# ------------------------------------------------------------------------------------------------
# the storage_dump role's scheduled runner (the same configuration file the role writes)

def _runner(env, params, lock=None):
    cfg = env.base / "runner.json"
    cfg.write_text(json.dumps(params))
    cmd = [PYTHON, str(RUNNER), "--config", str(cfg)] + (["--lock", str(lock)] if lock else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, VAPOR_OPS_INSTALL_DIR=COLLECTIONS))


def role_runner_dest_is_a_file(env):
    f = env.base / "dumpfile"
    f.write_text("x\n")
    before = snapshot(env.root, env.dest, f)
    p = _runner(env, env.params(dest=str(f)))
    assert p.returncode == 1
    line = p.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"vapor-se-dump: The dump directory '.*/dumpfile' is not a directory \(it is a file\); "
                        r"give the directory the dumps are published in\.", line), line
    assert snapshot(env.root, env.dest, f) == before


def role_runner_dest_inside_root(env):
    dest = env.root / "vo" / "dumps"
    env.publish_old(dest)
    p = _runner(env, env.params(dest=str(dest)))
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert dump_paths(res) == env.expected() and res["left_out"] == [str(dest)]
    assert "warning: The dump directory" in p.stderr


def role_runner_concurrent_run_refused(env):
    """While a run holds the lock, a second scheduled run is refused with one sentence and does nothing."""
    lock = env.base / "lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = snapshot(env.root, env.dest)
        p = _runner(env, env.params(), lock=lock)
        assert p.returncode == 1
        line = p.stderr.strip().splitlines()[-1]
        assert re.fullmatch(r"vapor-se-dump: Another run with the configuration '.*' is still going \(it holds the "
                            r"lock on '.*/lock'\); this run did nothing\.", line), line
        assert snapshot(env.root, env.dest) == before
    finally:
        os.close(fd)


def role_runner_workers_negative(env):
    before = snapshot(env.root, env.dest)
    p = _runner(env, env.params(workers=-3))
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == ("vapor-se-dump: The option workers is -3; it must be between 1 and "
                                                 "256 (processes for posix, listings in flight for xrootd).")
    assert snapshot(env.root, env.dest) == before


CASES = [
    # se_dump posix: dest and roots
    dest_equals_root, dest_inside_root, dest_inside_root_parallel_scan, dest_inside_root_through_symlinked_root,
    dest_is_a_file, dest_missing, dest_unwritable_nonroot, root_missing, root_is_a_file, root_dangling_symlink,
    root_unreadable_nonroot, root_empty_mount_point, one_of_two_roots_unmounted, subdirectory_unreadable_nonroot,
    # se_dump options
    latest_link_outside, latest_link_absolute, latest_link_is_a_directory,
    bad("workers_zero", r"^The option workers is 0; it must be between 1 and 256", workers=0),
    bad("workers_negative", r"^The option workers is -1; it must be between 1 and 256", workers=-1),
    bad("workers_absurd", r"^The option workers is 100000; it must be between 1 and 256", workers=100000),
    bad("mode_setuid", r"^The file mode '04755' is not a permission between 0000 and 0777\.$", mode="04755"),
    bad("mode_unreadable_to_owner", r"^The file mode '0200' leaves the published dump unreadable to its owner", mode="0200"),
    bad("mode_not_octal", r"^The file mode 'rw-r--r--' is not an octal number such as '0644'\.$", mode="rw-r--r--"),
    bad("format_unknown", r"^The dump format 'csv' is not supported; use text, cms or syncat\.$", format="csv"),
    bad("compression_unknown", r"^The compression 'xz' is not supported; use none, gzip or bzip2\.$", compression="xz"),
    bad("name_with_slash", r"^The name pattern 'dump/%Y' is not a plain file name pattern", name="dump/%Y"),
    bad("name_non_numeric_code", r"^The name pattern 'dump_%B' uses %B; only numeric date codes", name="dump_%B"),
    bad("ignore_bad_regex", r"^The ignore pattern '\(' is not a valid regular expression: ", ignore=["("]),
    bad("min_age_not_duration", r"^The min_age 'soon' is not a duration", min_age="soon"),
    bad("keep_negative", r"^The option keep is -2; it must be zero or more\.$", keep=-2),
    bad("source_unknown", r"^The source 'gpfs' is not supported; use one of posix, xrootd, dpm, dcache\.$", source="gpfs"),
    mode_applied_to_unchanged_dump, killed_mid_run, repeated_runs_are_stable,
    concurrent_runs_same_dest,
    # se_dump other sources
    xrootd_dest_inside_export, xrootd_server_down, xrootd_missing_root, xrootd_bad_url,
    _down("dpm"), _down("dcache"),
    _wrong_password("dpm", "mariadb", "cns_db", r"Access denied for user 'vapor'"),
    _wrong_password("dcache", "postgres", "chimera_db", r"password authentication failed for user \"vapor\"\.$"),
    _unknown_db("dpm", "mariadb"), _unknown_db("dcache", "postgres"),
    dpm_missing_tables, dcache_missing_tables, dpm_dest_inside_namespace_is_not_a_thing,
    # catalog_dump output
    catalog_dest_is_a_file, catalog_dest_missing, catalog_latest_link_outside, catalog_mode_decimal,
    catalog_mode_applied_to_unchanged_dump, catalog_dest_unwritable_nonroot, catalog_concurrent_runs_same_dest,
    catalog_mysql_down, catalog_mysql_unknown_database,
    # the playbook and the role
    playbook_dest_inside_root, playbook_workers_zero, playbook_mode_change,
    role_runner_dest_is_a_file, role_runner_dest_inside_root, role_runner_concurrent_run_refused,
    role_runner_workers_negative,
]


def _case_id(case):
    return case.__name__


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_hostile(case, env):
    if "nonroot" in case.__name__ and os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    case(env)


def test_catalogue_has_distinct_cases():
    ids = [_case_id(c) for c in CASES]
    assert len(ids) >= 25
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]
