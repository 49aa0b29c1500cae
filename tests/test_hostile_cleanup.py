# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hostile catalogue of the cleanups (issue 8 §1, §3, §4): catalog_cleanup, dark_data_cleanup and
catalog_entries_info against odd catalog forms, wrong URLs, unmounted areas, symbolic links, repeated and
concurrent runs, kills, wrong or absent lists, journals of another list and a non-root user.

Each case of CASES builds a small site (an SQLite catalog — the embedded back end, real — and a file:// storage
directory), runs one thing a hostile admin would do, and asserts (a) the one sentence by a regular expression or
the correct result and (b) a before/after snapshot of everything that must not change: the storage files with
their content (symbolic links as links, and the directory outside the storage they may point to) and the catalog
rows (entries and replicas). The issue's own reproducers run through ansible-playbook on a real MariaDB catalog
at the end of the file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._catalog import entries as cat_entries
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

NOW = int(time.time())
OLD = NOW - 60 * 86400
SE = "se.demo.example"
SRM = f"srm://{SE}:8446/srm/managerv2?SFN="
TOP = "/vo"
COLLECTIONS = str(ansible_runner.REPO / "collections")


# ------------------------------------------------------------------------------------------------
# the site


class Site:
    """A storage directory reached through file://, an SQLite catalog of its storage element, lists in a run dir.

    The storage holds /store/mc/run1/{good_1,good_2}.root (catalogued, present) and whatever a case adds; the
    directory ``outside`` (next to the storage, not under it) holds precious.txt, which nothing may touch.
    """

    def __init__(self, base: Path):
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o755)
        self.base = base
        self.root = base / "storage"
        self.root.mkdir()
        self.outside = base / "outside"
        self.outside.mkdir()
        (self.outside / "precious.txt").write_text("precious")
        self.run = base / "run"
        self.run.mkdir()
        self.db = str(base / "catalog.db")
        cat_schema.create_sqlite_catalog(self.db)
        self.spec = {"backend": "sqlite", "path": self.db}
        self.url = "file://" + str(self.root)
        for name in ("good_1.root", "good_2.root"):
            self.put("/store/mc/run1/" + name)
            self.register("/store/mc/run1/" + name)

    def put(self, rel, data=None, mtime=OLD):
        p = self.root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data if data is not None else "content of " + rel)
        os.utime(p, (mtime, mtime))
        return p

    def register(self, rel, sfn=None, status="-", host=SE, lfn=None):
        with cat_access.open_catalog(self.spec) as c:
            c.register_file(lfn or "/grid" + rel, 1, OLD, None, [(host, sfn or SRM + TOP + rel, status)])

    def add_replica(self, lfn, sfn, host=SE, status="-"):
        with cat_access.open_catalog(self.spec) as c:
            c.add_replica(c.lookup(lfn).fileid, host, sfn, status)

    def write(self, name, paths):
        p = self.run / name
        p.write_text("".join(x + "\n" for x in paths))
        return str(p)

    def dark_params(self, paths, **kw):
        p = {"dark": self.write("confirmed_dark.list", paths), "catalog": self.spec, "se": SE,
             "strip_prefix": TOP, "storage_url": self.url, "concurrency": 1, "min_age": 0}
        p.update(kw)
        return p

    def lost_params(self, paths, **kw):
        p = {"lost": self.write("lost.list", paths), "catalog": self.spec, "se": SE, "strip_prefix": TOP,
             "storage_url": self.url}
        p.update(kw)
        return p

    def snapshot(self):
        """Storage and outside files (content; links as links) and every catalog entry and replica."""
        files = {}
        for top in (self.root, self.outside):
            for d, dirs, names in os.walk(top):
                for name in dirs + names:
                    full = os.path.join(d, name)
                    st = os.lstat(full)
                    rel = os.path.relpath(full, self.base)
                    if stat.S_ISLNK(st.st_mode):
                        files[rel] = "-> " + os.readlink(full)
                    elif stat.S_ISREG(st.st_mode):
                        files[rel] = Path(full).read_text(errors="replace")
                    else:
                        files[rel] = "<dir>"
        with cat_access.open_catalog(self.spec) as c:
            entries = sorted((c.path_of(r[0]), int(r[1] or 0)) for r in
                             c.all("SELECT fileid, nlink FROM Cns_file_metadata"))
            replicas = sorted((to_text(r[0]), r[1], r[2]) for r in
                              c.all("SELECT sfn, host, status FROM Cns_file_replica"))
        return {"files": files, "entries": entries, "replicas": replicas}


@pytest.fixture
def site():
    base = Path(tempfile.mkdtemp(prefix="vapor-hostile-"))
    try:
        yield Site(base / "site")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def changed_files(before, after):
    keys = set(before["files"]) | set(after["files"])
    return sorted(k for k in keys if before["files"].get(k) != after["files"].get(k))


def fails(fn, params, pattern, **kw):
    with pytest.raises(VaporError) as err:
        fn(params, **kw)
    msg = err.value.msg
    assert __import__("re").search(pattern, msg), msg
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


# ------------------------------------------------------------------------------------------------
# dark_data_cleanup: odd catalog forms (issue 8 §1.1)

ORPHAN = "/store/mc/run1/orphan_0001.root"

ODD_SFNS = {
    "sfn_double_slash": SRM + "/vo//store/mc/run1/orphan_0001.root",
    "sfn_dot": SRM + "/vo/./store/mc/run1/orphan_0001.root",
    "sfn_dotdot": SRM + "/vo/store/x/../mc/run1/orphan_0001.root",
    "sfn_trailing_slash": SRM + "/vo/store/mc/run1/orphan_0001.root/",
    "sfn_host_case": f"srm://SE.Demo.Example:8446/srm/managerv2?SFN=/vo/store/mc/run1/orphan_0001.root",
    "sfn_no_port": f"srm://{SE}/srm/managerv2?SFN=/vo/store/mc/run1/orphan_0001.root",
    "sfn_plain_srm": f"srm://{SE}/vo/store/mc/run1/orphan_0001.root",
    "sfn_root_double_slash": f"root://{SE}:1094//vo///store/mc/run1//orphan_0001.root",
    "sfn_dpm_form": f"{SE}:/vo/store/mc/run1/orphan_0001.root",
    "sfn_davs_default_port": f"davs://{SE.upper()}/vo/store/mc/run1/orphan_0001.root",
}


def _odd_sfn_case(sfn, host=SE, selection=None):
    def case(s):
        s.put(ORPHAN)
        s.register(ORPHAN, sfn=sfn, host=host)
        params = s.dark_params([ORPHAN], **(selection or {}))
        before = s.snapshot()
        r = dc.run_dark_cleanup(params)
        assert r["deleted"] == [] and [k["reason"] for k in r["kept"]] == ["in_catalog"], r
        assert sfn in r["kept"][0]["detail"]
        assert s.snapshot() == before
    return case


def case_unparsable_sfn_protects(s):
    """An SFN in no known form ('..' above the root) that holds the file's name protects it."""
    s.put(ORPHAN)
    sfn = SRM + "/../../vo/store/mc/run1/orphan_0001.root"
    s.register(ORPHAN, sfn=sfn)
    before = s.snapshot()
    r = dc.run_dark_cleanup(s.dark_params([ORPHAN]))
    assert r["deleted"] == [] and r["kept"][0]["reason"] == "in_catalog"
    assert "no known form" in r["kept"][0]["detail"]
    assert s.snapshot() == before


def case_registered_during_the_run(s):
    """A replica in an unusual form registered after the run started (above the high-water mark) protects."""
    s.put("/store/mc/run1/a.root")
    s.put(ORPHAN)

    class RegisteringStorage(dc.open_storage(s.url).__class__):
        def stat(self, url):
            if url.endswith("/a.root"):
                s.register(ORPHAN, sfn=SRM + "/vo//store/mc/run1/orphan_0001.root")
            return super().stat(url)

    params = s.dark_params(["/store/mc/run1/a.root", ORPHAN])
    before = s.snapshot()
    r = dc.run_dark_cleanup(params, storage=RegisteringStorage([str(s.root)]))
    assert r["deleted"] == ["/store/mc/run1/a.root"]
    assert [(k["path"], k["reason"]) for k in r["kept"]] == [(ORPHAN, "in_catalog")]
    after = s.snapshot()
    assert changed_files(before, after) == ["storage/store/mc/run1/a.root"]


def case_dark_list_with_dotdot(s):
    before = s.snapshot()
    fails(dc.run_dark_cleanup, s.dark_params(["/store/../../outside/precious.txt"]),
          r"^The dump '.*confirmed_dark\.list' is refused: line 1 holds '/store/\.\./\.\./outside/precious\.txt', "
          r"which is not a normalised absolute file path")
    assert s.snapshot() == before


# ------------------------------------------------------------------------------------------------
# dark_data_cleanup: storage that cannot see, symbolic links (issue 8 §1.2, §1.3)

def case_dark_wrong_storage_url(s):
    s.put(ORPHAN)
    before = s.snapshot()
    params = s.dark_params([ORPHAN], storage_url="file://" + str(s.base / "Storage"))
    fails(dc.run_dark_cleanup, params, r"^The storage URL 'file://.*/Storage' does not exist, so every file would "
                                       r"look absent; check storage_url \(nothing was deleted\)\.$")
    assert s.snapshot() == before and not os.path.exists(params["dark"] + ".dark_data_cleanup.journal")


def case_dark_storage_url_is_a_file(s):
    before = s.snapshot()
    params = s.dark_params([ORPHAN], storage_url="file://" + str(s.outside / "precious.txt"))
    fails(dc.run_dark_cleanup, params, r"is not a directory, so it cannot hold the files of the list")
    assert s.snapshot() == before


def case_dark_unmounted_area(s):
    """The storage directory is there but empty (its area not mounted): nothing may be reported already gone."""
    s.put(ORPHAN)
    empty = s.base / "mnt"
    empty.mkdir()
    before = s.snapshot()
    params = s.dark_params([ORPHAN], storage_url="file://" + str(empty))
    fails(dc.run_dark_cleanup, params, r"does not show '.*/store/mc/run1/good_1.root', which the catalog holds next "
                                       r"to the listed paths \(not found\).*nothing was deleted\.$")
    assert s.snapshot() == before and not os.path.exists(params["dark"] + ".dark_data_cleanup.journal")


def case_dark_directory_symlink(s):
    os.symlink(str(s.outside), str(s.root / "store" / "link"))
    before = s.snapshot()
    r = dc.run_dark_cleanup(s.dark_params(["/store/link/precious.txt"]))
    assert r["deleted"] == [] and [k["reason"] for k in r["kept"]] == ["symlink"]
    assert "goes through the symbolic link" in r["kept"][0]["detail"]
    assert s.snapshot() == before and (s.outside / "precious.txt").read_text() == "precious"


def case_dark_file_symlink(s):
    os.symlink(str(s.outside / "precious.txt"), str(s.root / "store" / "mc" / "run1" / "alias.root"))
    before = s.snapshot()
    r = dc.run_dark_cleanup(s.dark_params(["/store/mc/run1/alias.root"]))
    assert r["deleted"] == [] and [k["reason"] for k in r["kept"]] == ["symlink"]
    assert s.snapshot() == before


def case_dark_quarantine_through_symlink(s):
    os.symlink(str(s.outside), str(s.root / "store" / "link"))
    before = s.snapshot()
    r = dc.run_dark_cleanup(s.dark_params(["/store/link/precious.txt"], quarantine=str(s.base / "q")))
    assert r["quarantined"] == [] and r["kept"][0]["reason"] == "symlink"
    assert s.snapshot() == before and not (s.base / "q").exists()


# ------------------------------------------------------------------------------------------------
# dark_data_cleanup: unreachable or unsupported storage (issue 8 §3)

def case_dark_unsupported_scheme(s):
    pytest.importorskip("gfal2")
    s.put(ORPHAN)
    before = s.snapshot()
    params = s.dark_params([ORPHAN], storage_url="nosuch://se.demo.example/vo", timeout=5, retries=0)
    fails(dc.run_dark_cleanup, params, r"^The storage URL 'nosuch://se.demo.example/vo' cannot be checked .*so no "
                                       r"file could be looked at; nothing was deleted\.$")
    assert s.snapshot() == before


def case_dark_unreachable_then_corrected(s):
    pytest.importorskip("gfal2")
    s.put(ORPHAN)
    before = s.snapshot()
    bad = s.dark_params([ORPHAN], storage_url="davs://127.0.0.1:9/vo", timeout=5, retries=0)
    fails(dc.run_dark_cleanup, bad, r"^The storage URL 'davs://127.0.0.1:9/vo' cannot be checked")
    assert s.snapshot() == before
    good = dc.run_dark_cleanup(s.dark_params([ORPHAN]))           # the same list, the corrected URL
    assert good["deleted"] == [ORPHAN]
    assert changed_files(before, s.snapshot()) == ["storage" + ORPHAN]


def case_dark_nothing_could_be_checked(s):
    """Every path of the list fails at the storage: the run fails, and its journal does not block the next run."""
    class Broken(dc.open_storage(s.url).__class__):
        def stat(self, url):
            if url.rstrip("/") == s.url or "good_" in url:
                return super().stat(url)
            raise VaporError("The storage cannot stat '%s': Connection timed out." % url)

    for i in range(3):
        s.put(f"/store/mc/run1/d{i}.root")
    paths = [f"/store/mc/run1/d{i}.root" for i in range(3)]
    params = s.dark_params(paths)
    before = s.snapshot()
    fails(dc.run_dark_cleanup, params, r"^The dark data cleanup could check none of the 3 paths it looked at on "
                                       r"'file://.*' \(the first error: .*timed out\); nothing was deleted\.$",
          storage=Broken([str(s.root)]))
    assert s.snapshot() == before
    again = dc.run_dark_cleanup(dict(params, journal=None))
    assert again["deleted"] == paths


# ------------------------------------------------------------------------------------------------
# dark_data_cleanup: runs, journals, lists

def case_dark_repeated_run(s):
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    first = dc.run_dark_cleanup(params)
    assert first["deleted"] == [ORPHAN]
    before = s.snapshot()
    again = dc.run_dark_cleanup(params)
    assert not again["changed"] and again["counts"]["already_done"] == 1
    assert s.snapshot() == before


def case_dark_journal_of_another_list(s):
    s.put(ORPHAN)
    s.put("/store/mc/run1/b.root")
    jpath = str(s.run / "shared.journal")
    dc.run_dark_cleanup(s.dark_params([ORPHAN], journal=jpath))
    before = s.snapshot()
    fails(dc.run_dark_cleanup, s.dark_params(["/store/mc/run1/b.root"], journal=jpath),
          r"^The journal '.*shared.journal' belongs to another run")
    assert s.snapshot() == before


def case_dark_list_absent(s):
    before = s.snapshot()
    params = s.dark_params([ORPHAN])
    params["dark"] = str(s.run / "no_such.list")
    fails(dc.run_dark_cleanup, params, r"^The dark list '.*no_such.list' does not exist or is not a file\.$")
    assert s.snapshot() == before


def case_dark_list_is_garbage(s):
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    Path(params["dark"]).write_bytes(b"\x00\xff\xfe garbage without a line end")
    before = s.snapshot()
    with pytest.raises(VaporError):
        dc.run_dark_cleanup(params)
    assert s.snapshot() == before


def case_dark_files_are_private(s):
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    old = os.umask(0o022)
    try:
        dc.run_dark_cleanup(params)
    finally:
        os.umask(old)
    for p in (params["dark"] + ".dark_data_cleanup.journal", params["dark"] + ".dark_data_cleanup.journal.lock"):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def case_dark_mtime_in_the_future(s):
    """A file whose modification time is ahead of the clock (a back-dated run, a skewed server) is too young."""
    s.put(ORPHAN, mtime=NOW + 86400)
    before = s.snapshot()
    r = dc.run_dark_cleanup(s.dark_params([ORPHAN], min_age="30d"))
    assert r["deleted"] == [] and [k["reason"] for k in r["kept"]] == ["too_young"]
    assert s.snapshot() == before


def case_dark_torn_journal_resumes(s):
    """A journal whose last record was torn by a kill is read up to it; the run then finishes the list."""
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    jpath = params["dark"] + ".dark_data_cleanup.journal"
    r = dc.run_dark_cleanup(params)
    with open(jpath, "a") as f:
        f.write('{"item": "/store/mc/run1/x.root", "sta')                   # killed mid-write
    before = s.snapshot()
    again = dc.run_dark_cleanup(params)
    assert r["deleted"] == [ORPHAN] and not again["changed"] and again["counts"]["already_done"] == 1
    assert s.snapshot() == before


def case_dark_check_mode_writes_nothing(s):
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    before = s.snapshot()
    r = dc.run_dark_cleanup(params, check_mode=True)
    assert r["deleted"] == [ORPHAN] and s.snapshot() == before
    assert sorted(os.listdir(s.run)) == ["confirmed_dark.list"]


# ------------------------------------------------------------------------------------------------
# catalog_cleanup

def _lost_file(s, rel="/store/mc/run1/lost_1.root", **kw):
    s.register(rel, **kw)
    return rel


def case_cc_storage_url_typo(s):
    lost = _lost_file(s)
    before = s.snapshot()
    params = s.lost_params([lost], storage_url="file://" + str(s.base / "Storage"))
    fails(cat_cleanup.run_catalog_cleanup, params, r"^The storage URL '.*/Storage' does not exist, so every file would look "
                                                   r"absent; check storage_url \(nothing was removed\)\.$")
    assert s.snapshot() == before and not os.path.exists(params["lost"] + ".catalog_cleanup.journal")


def case_cc_unmounted_area(s):
    lost = _lost_file(s)
    empty = s.base / "mnt"
    empty.mkdir()
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost], storage_url="file://" + str(empty)),
          r"does not show '.*good_1.root', which the catalog holds next to the listed paths \(not found\), so it "
          r"cannot be trusted .*nothing was removed\.$")
    assert s.snapshot() == before


def case_cc_unmounted_sub_area(s):
    """The storage root shows, but the listed file's directory is an empty mount point."""
    lost = _lost_file(s, "/store/data/lost_2.root")
    s.register("/store/data/sibling.root")                   # catalogued next to it; its area is not mounted
    (s.root / "store" / "data").mkdir(parents=True)
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost]),
          r"does not show '.*/store/data/sibling.root'.*nothing was removed\.$")
    assert s.snapshot() == before


def case_cc_wrong_prefix(s):
    lost = _lost_file(s)
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost], storage_url=s.url + "/store"),
          r"does not show .*nothing was removed\.$")
    assert s.snapshot() == before


def case_cc_every_catalogued_file_listed(s):
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params(["/store/mc/run1/good_1.root", "/store/mc/run1/good_2.root"],
                                                         storage_url="file://" + str(s.outside)),
          r"^The catalog holds no available replica on host 'se.demo.example' outside the list, so nothing can show")
    assert s.snapshot() == before


def case_cc_path_through_symlink(s):
    """A lost path whose directory on the storage is a link: 'absent' is not believed through it."""
    lost = _lost_file(s, "/store/link/lost_3.root")
    os.symlink(str(s.outside), str(s.root / "store" / "link"))
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost]),
          r"could check none of the 1 paths .*goes through the symbolic link.*nothing was removed\.$")
    assert s.snapshot() == before


def case_cc_every_spelling_removed(s):
    """A lost file with replicas in two spellings on the SE: both go, the other SE's replica stays."""
    lost = _lost_file(s)
    s.add_replica("/grid" + lost, SRM + "/vo//store/mc/run1/./lost_1.root")
    s.add_replica("/grid" + lost, "root://other.example//vo/store/mc/run1/lost_1.root", host="other.example")
    before = s.snapshot()
    r = cat_cleanup.run_catalog_cleanup(s.lost_params([lost]))
    assert sorted(x["sfn"] for x in r["removed"]) == sorted([SRM + TOP + lost,
                                                            SRM + "/vo//store/mc/run1/./lost_1.root"])
    after = s.snapshot()
    assert after["files"] == before["files"] and after["entries"] == before["entries"]
    assert after["replicas"] == [x for x in before["replicas"] if x[1] != SE or "lost_1" not in x[0]]


def case_cc_file_back_on_storage(s):
    lost = _lost_file(s)
    s.put(lost)
    before = s.snapshot()
    r = cat_cleanup.run_catalog_cleanup(s.lost_params([lost]))
    assert r["removed"] == [] and r["kept"][0]["reason"] == "on_storage"
    assert s.snapshot() == before


def case_cc_journal_of_another_list(s):
    lost = _lost_file(s)
    lost2 = _lost_file(s, "/store/mc/run1/lost_2.root")
    jpath = str(s.run / "shared.journal")
    cat_cleanup.run_catalog_cleanup(s.lost_params([lost], journal=jpath))
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost2], journal=jpath), r"belongs to another run")
    assert s.snapshot() == before


def case_cc_list_absent(s):
    before = s.snapshot()
    params = s.lost_params([])
    params["lost"] = str(s.run / "nope.list")
    fails(cat_cleanup.run_catalog_cleanup, params, r"^The lost list '.*nope.list' does not exist or is not a file\.$")
    assert s.snapshot() == before


def case_cc_repeated_run(s):
    lost = _lost_file(s)
    params = s.lost_params([lost])
    assert cat_cleanup.run_catalog_cleanup(params)["removed_replicas"] == 1
    before = s.snapshot()
    again = cat_cleanup.run_catalog_cleanup(params)
    assert not again["changed"] and again["counts"]["already_done"] == 1 and s.snapshot() == before


def case_cc_unreachable_then_corrected(s):
    pytest.importorskip("gfal2")
    lost = _lost_file(s)
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, s.lost_params([lost], storage_url="davs://127.0.0.1:9/vo", timeout=5,
                                                         retries=0),
          r"^The storage URL 'davs://127.0.0.1:9/vo' cannot be checked .*nothing was removed\.$")
    assert s.snapshot() == before
    assert cat_cleanup.run_catalog_cleanup(s.lost_params([lost]))["removed_replicas"] == 1


def case_cc_files_are_private(s):
    lost = _lost_file(s)
    params = s.lost_params([lost])
    cat_cleanup.run_catalog_cleanup(params)
    for p in (params["lost"] + ".catalog_cleanup.journal", params["lost"] + ".catalog_cleanup.journal.lock"):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


# ------------------------------------------------------------------------------------------------
# catalog_entries_info

def case_info_path_absent(s):
    before = s.snapshot()
    fails(cat_entries.entries_info, {"catalog": s.spec, "path": "/grid/nope"}, r"^The path '/grid/nope' does not exist in "
                                                                        r"the catalog")
    assert s.snapshot() == before


def case_info_relative_path(s):
    before = s.snapshot()
    fails(cat_entries.entries_info, {"catalog": s.spec, "path": "grid/store"}, r"^The catalog path 'grid/store' is not "
                                                                         r"absolute\.$")
    assert s.snapshot() == before


def case_info_unknown_owner(s):
    before = s.snapshot()
    r = cat_entries.entries_info({"catalog": s.spec, "path": "/grid", "owners": ["/CN=Nobody"]})
    assert r["entries"] == [] and r["unknown_owners"] == ["/CN=Nobody"]
    assert s.snapshot() == before


def case_info_summary_counts_every_spelling(s):
    """The per-DN summary of an SFN prefix counts the replicas written without the default port too."""
    s.register("/store/mc/run1/noport.root", sfn=f"srm://{SE}/srm/managerv2?SFN=/vo/store/mc/run1/noport.root")
    before = s.snapshot()
    r = cat_entries.entries_info({"catalog": s.spec, "summary": True, "sfn_prefix": SRM + "/vo/"})
    assert r["files"] == 3
    assert s.snapshot() == before


def case_info_sqlite_catalog_absent(s):
    before = s.snapshot()
    fails(cat_entries.entries_info, {"catalog": {"backend": "sqlite", "path": str(s.base / "nope.db")}},
          r"^The SQLite catalog '.*nope.db' does not exist")
    assert s.snapshot() == before


CASES = {name: _odd_sfn_case(sfn) for name, sfn in ODD_SFNS.items()}
CASES.update({
    "host_column_case": _odd_sfn_case(SRM + TOP + ORPHAN, host="SE.DEMO.EXAMPLE"),
    "sfn_prefix_host_case": _odd_sfn_case("srm://Se.Demo.Example:8446/srm/managerv2?SFN=/vo" + ORPHAN,
                                          selection={"se": None, "sfn_prefix": SRM + "/vo/"}),
    "sfn_prefix_no_port": _odd_sfn_case(f"srm://{SE}/vo" + ORPHAN,
                                        selection={"se": None, "sfn_prefix": SRM + "/vo/"}),
})
CASES.update({name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")})


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile(name, site):
    CASES[name](site)


def test_catalogue_is_large_enough():
    assert len(CASES) >= 30


# ------------------------------------------------------------------------------------------------
# concurrency, kills and a non-root user: real processes

HOLDER = r"""
import json, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
params, kind = json.loads(sys.argv[1]), sys.argv[2]
base = dc.open_storage(params['storage_url']).__class__

class Slow(base):
    def stat(self, url):
        if url.endswith('.slow'):
            print('HOLDING', flush=True)
            time.sleep(30)
        return base.stat(self, url)

try:
    if kind == 'dark':
        r = dc.run_dark_cleanup(params, storage=Slow([params['storage_url'][7:]]))
    else:
        r = cat_cleanup.run_catalog_cleanup(params, storage=Slow([params['storage_url'][7:]]))
    print('RESULT ' + json.dumps(r, default=str), flush=True)
except Exception as exc:
    print('ERROR ' + getattr(exc, 'msg', str(exc)), flush=True)
"""


def _spawn(params, kind, **kw):
    return subprocess.Popen([sys.executable, "-c", HOLDER % {"collections": COLLECTIONS}, json.dumps(params), kind],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("kind", ["dark", "catalog"])
def test_two_concurrent_runs_the_second_is_refused(site, kind):
    s = site
    if kind == "dark":
        s.put("/store/mc/run1/a.slow")
        s.put(ORPHAN)
        params = s.dark_params(["/store/mc/run1/a.slow", ORPHAN])
    else:
        s.register("/store/mc/run1/a.slow")
        s.register(ORPHAN)
        params = s.lost_params(["/store/mc/run1/a.slow", ORPHAN])
    first = _spawn(params, kind)
    try:
        assert first.stdout.readline().strip() == "HOLDING", first.stderr.read()
        before = s.snapshot()
        second = _spawn(params, kind)
        out, err = second.communicate(timeout=120)
        assert out.startswith("ERROR Another "), (out, err)
        assert "is running on the journal" in out and "nothing was done." in out
        assert s.snapshot() == before                      # the second run changed nothing
    finally:
        first.kill()
        first.wait()
    # the kill released the lock: a third run goes ahead and finishes the work exactly
    if kind == "dark":
        r = dc.run_dark_cleanup(params)
        assert sorted(r["deleted"]) == sorted(["/store/mc/run1/a.slow", ORPHAN])
        assert not (s.root / "store/mc/run1/a.slow").exists() and (s.root / "store/mc/run1/good_1.root").exists()
    else:
        r = cat_cleanup.run_catalog_cleanup(params)
        assert r["removed_replicas"] + r["counts"]["absent"] >= 2
        with cat_access.open_catalog(s.spec) as c:
            assert c.lookup("/grid" + ORPHAN) is None and c.lookup("/grid/store/mc/run1/good_1.root") is not None


def test_non_root_user_cannot_write_the_run_directory(site):
    """As 'nobody', with a run directory it cannot write: one sentence, nothing deleted."""
    s = site
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    for d, dirs, files in os.walk(s.base):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    os.chmod(s.db, 0o666)
    os.chmod(s.base, 0o777)               # SQLite may need its journal next to the catalog
    os.chmod(s.base.parent, 0o755)
    before = s.snapshot()
    code = ("import json, sys; sys.path.insert(0, %r)\n"
            "from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc\n"
            "try:\n    dc.run_dark_cleanup(json.loads(sys.argv[1])); print('OK')\n"
            "except Exception as exc:\n    print('ERROR ' + getattr(exc, 'msg', str(exc)))\n" % COLLECTIONS)
    proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
                           code, json.dumps(params)], capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("ERROR The lock file '"), (proc.stdout, proc.stderr)
    assert "Permission denied; nothing was done." in proc.stdout
    assert s.snapshot() == before


# ------------------------------------------------------------------------------------------------
# the issue's reproducers, through ansible-playbook on a real MariaDB catalog


def _mysql_spec(mariadb, dbname):
    return {"backend": "mysql", "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
            "password": mariadb.password, "database": dbname}


def _playbook_site(tmp_path, mariadb, cns_db):
    seed.seed_dpm(mariadb, cns_db, [])
    spec = _mysql_spec(mariadb, cns_db)
    s = Site(tmp_path / "site")
    with cat_access.open_catalog(s.spec) as src, cat_access.open_catalog(spec) as dst:   # the same rows on MariaDB
        for sfn, host, status in (tuple(r) for r in src.all("SELECT sfn, host, status FROM Cns_file_replica")):
            rel = sfn[len(SRM + TOP):]
            dst.register_file("/grid" + rel, 1, OLD, None, [(host, sfn, status)])
    s.spec = spec
    extra = {"consistency_hosts": "localhost", "consistency_run": str(s.run), "vapor_catalog": spec,
             "consistency_se": SE, "consistency_strip_prefix": TOP, "consistency_storage_url": s.url,
             "dark_data_min_age": "0"}
    return s, extra, ansible_runner.write_local_inventory(tmp_path / "inv.yml")


@pytest.mark.parametrize("form", ["/vo//store/mc/run1/orphan_0001.root", "/vo/./store/mc/run1/orphan_0001.root"])
def test_issue_reproducer_sfn_form_through_the_playbook(tmp_path, run_playbook, mariadb, cns_db, form):
    s, extra, inv = _playbook_site(tmp_path, mariadb, cns_db)
    s.put(ORPHAN)
    s.register(ORPHAN, sfn=SRM + form)
    s.write("confirmed_dark.list", [ORPHAN])
    dump = cat_sfn.SfnMapping(SE, TOP).dump_path(SRM + form)[0]
    assert dump == ORPHAN                                    # catalog_dump lists it under this path
    before = s.snapshot()
    res = run_playbook("playbooks/dark_data_cleanup.yml", extra, inventory=inv)
    r = res.result("Delete the confirmed dark files")
    assert r["deleted"] == [] and [(k["path"], k["reason"]) for k in r["kept"]] == [(ORPHAN, "in_catalog")]
    assert (s.root / ORPHAN.lstrip("/")).read_text() == "content of " + ORPHAN
    assert s.snapshot() == before


def test_issue_reproducer_symlink_through_the_playbook(tmp_path, run_playbook, mariadb, cns_db):
    s, extra, inv = _playbook_site(tmp_path, mariadb, cns_db)
    os.symlink(str(s.outside), str(s.root / "store" / "link"))
    s.write("confirmed_dark.list", ["/store/link/precious.txt"])
    before = s.snapshot()
    res = run_playbook("playbooks/dark_data_cleanup.yml", extra, inventory=inv)
    r = res.result("Delete the confirmed dark files")
    assert r["deleted"] == [] and r["kept"][0]["reason"] == "symlink"
    assert r["kept"][0]["detail"].endswith("goes through the symbolic link '%s', and nothing is deleted, renamed "
                                           "or quarantined through a link." % (s.root / "store" / "link"))
    assert (s.outside / "precious.txt").read_text() == "precious" and s.snapshot() == before


def test_issue_reproducer_storage_url_typo_through_the_playbook(tmp_path, run_playbook, mariadb, cns_db):
    s, extra, inv = _playbook_site(tmp_path, mariadb, cns_db)
    for i in range(3):
        s.register(f"/store/mc/run1/gone_{i}.root")         # lost files the cleanup may remove
        s.put(f"/store/mc/run1/here_{i}.root")
        s.register(f"/store/mc/run1/here_{i}.root")         # files that exist; the list names them by mistake
    s.write("lost.list", [f"/store/mc/run1/{n}_{i}.root" for n in ("gone", "here") for i in range(3)])
    typo = dict(extra, consistency_storage_url="file://" + str(s.base / "Storage"))
    before = s.snapshot()
    res = run_playbook("playbooks/catalog_cleanup.yml", typo, inventory=inv, expect_failure=True)
    msg = res.result("Remove the lost replicas")["msg"]
    assert msg == ("The storage URL 'file://%s' does not exist, so every file would look absent; check storage_url "
                   "(nothing was removed)." % (s.base / "Storage"))
    assert s.snapshot() == before
    ok = run_playbook("playbooks/catalog_cleanup.yml", extra, inventory=inv)
    r = ok.result("Remove the lost replicas")
    assert sorted(x["lfn"] for x in r["removed"]) == [f"/grid/store/mc/run1/gone_{i}.root" for i in range(3)]
    assert sorted(k["path"] for k in r["kept"]) == [f"/store/mc/run1/here_{i}.root" for i in range(3)]
