# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vapor.ops.dark_data_cleanup on real servers: a MariaDB catalog (DPNS schema) and the harness XRootD storage.

Through ansible-playbook: check mode (nothing deleted) -> real run (exactly the dark files gone, a before/after
listing of the storage proves nothing else was touched) -> again (no change); a file registered in the catalog
after the list was made survives; a wrong storage element selection fails with one sentence. Quarantine by rename
on root://. A run SIGKILLed mid-way and resumed, with every gfal2 deletion logged before it is made, proves each
dark file was deleted exactly once and none skipped. The rate limit, loosely on the wall clock.
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
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc

pytest.importorskip("gfal2")

NOW = int(time.time())
OLD = NOW - 60 * 86400
SE = "se.example.org"
TOP = "/dpm/example.org/home/vo"
HEAD = f"root://{SE}:1094/"
COLLECTIONS = str(ansible_runner.REPO / "collections")

DARK = ["/data/d1.root", "/data/d2.root", "/mc/sub/d3.root", "/mc/d4 with space.root"]
CATALOGUED = {"/data/good.root": "-", "/data/pending.root": "P", "/mc/bad.root": "D"}
YOUNG = ["/data/young.root"]
IGNORED = ["/user/alice/u.root"]
RACE = "/data/race.root"                 # dark when the list was made, registered before the cleanup runs
UNLISTED = ["/data/not-listed.root"]     # dark too, but not in the list: never touched


def mysql_spec(mariadb, dbname):
    return {"backend": "mysql", "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
            "password": mariadb.password, "database": dbname}


def register(spec, rels, status="-"):
    with cat_access.open_catalog(spec) as c:
        for rel in rels:
            c.register_file("/grid/vo" + rel, 1, OLD, None, [(SE, HEAD + TOP + rel, status)])


def listing(root):
    """Every file and directory under a local directory, with size and mtime: the storage as the server has it."""
    out = []
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(d, name)
            st = os.lstat(full)
            out.append(("/" + os.path.relpath(full, root), os.path.isdir(full), st.st_size if not
                        os.path.isdir(full) else 0, int(st.st_mtime)))
    return sorted(out)


def files_of(entries):
    return sorted(e[0] for e in entries if not e[1])


def playbook(tmp_path, args, name="Cleanup"):
    path = tmp_path / f"dark-{abs(hash(json.dumps(args, sort_keys=True))) % 10**8}.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                 "tasks": [{"name": name, "vapor.ops.dark_data_cleanup": args}]}], indent=1))
    return path


@pytest.fixture
def site(tmp_path, mariadb, cns_db, xrootd, xrootd_dir):
    """A catalog of the storage element on MariaDB and its files on XRootD; the confirmed dark list."""
    seed.seed_dpm(mariadb, cns_db, [])
    spec = mysql_spec(mariadb, cns_db)
    base = xrootd_dir.strip("/")
    everything = DARK + list(CATALOGUED) + YOUNG + IGNORED + [RACE] + UNLISTED
    xrootd.seed({f"{base}{rel}": f"content of {rel}" for rel in everything},
                mtime={f"{base}{rel}": (NOW - 120 if rel in YOUNG else OLD) for rel in everything})
    for rel, status in CATALOGUED.items():
        register(spec, [rel], status)
    dark = tmp_path / "run" / "confirmed_dark.list"
    dark.parent.mkdir()
    dark.write_text("".join(p + "\n" for p in sorted(DARK + list(CATALOGUED) + YOUNG + IGNORED + [RACE]
                                                    + ["/data/gone.root"])))
    register(spec, [RACE])                 # the race: registered after the list was made
    return {"spec": spec, "dark": dark, "root": xrootd.path(base), "base": base,
            "storage_url": f"{xrootd.url}//{base}", "xrootd": xrootd}


@pytest.mark.compat
def test_check_real_again_through_ansible(tmp_path, run_playbook, site):
    args = {"dark": str(site["dark"]), "catalog": site["spec"], "se": SE, "strip_prefix": TOP,
            "storage_url": site["storage_url"], "ignore": ["^/user/"], "concurrency": 2}
    pb, inv = playbook(tmp_path, args), ansible_runner.write_local_inventory(tmp_path / "inv.yml")
    journal = str(site["dark"]) + ".dark_data_cleanup.journal"
    before = listing(site["root"])

    check = run_playbook(pb, check=True, diff=True, inventory=inv)
    assert check.changed == 1, check.explain()
    assert listing(site["root"]) == before, "check mode touched the storage"
    assert not os.path.exists(journal)
    res = check.result("Cleanup")
    assert sorted(res["deleted"]) == sorted(DARK)
    assert site["spec"]["password"] not in check.stdout          # no_log on the catalog password

    real = run_playbook(pb, diff=True, inventory=inv)
    assert real.changed == 1, real.explain()
    res = real.result("Cleanup")
    assert res["deleted"] == sorted(DARK)                          # list order
    assert sorted((k["path"], k["reason"]) for k in res["kept"]) == sorted(
        [(p, "in_catalog") for p in CATALOGUED] + [(RACE, "in_catalog"), (YOUNG[0], "too_young"),
                                                   (IGNORED[0], "ignored")])
    assert res["already_gone"] == ["/data/gone.root"]
    assert res["counts"]["remaining"] == 0 and res["counts"]["error"] == 0
    assert sorted(res["diff"]["before"].splitlines()) == sorted(DARK)
    after = listing(site["root"])
    # exactly the dark files are gone; every other file and directory is as it was (size and mtime too)
    assert files_of(before) == sorted(files_of(after) + DARK)
    assert [e for e in after if not e[1]] == [e for e in before if not e[1] and e[0] not in DARK]
    assert [e[0] for e in after if e[1]] == [e[0] for e in before if e[1]]

    again = run_playbook(pb, diff=True, inventory=inv)
    assert again.changed == 0, again.explain()
    assert again.result("Cleanup")["counts"]["already_done"] == len(DARK) + 1
    assert listing(site["root"]) == after


def test_wrong_storage_element_fails_in_one_sentence(tmp_path, run_playbook, site):
    args = {"dark": str(site["dark"]), "catalog": site["spec"], "se": "se.exmaple.org", "strip_prefix": TOP,
            "storage_url": site["storage_url"], "min_age": "0"}
    before = listing(site["root"])
    res = run_playbook(playbook(tmp_path, args), inventory=ansible_runner.write_local_inventory(tmp_path / "i.yml"),
                       expect_failure=True)
    assert res.failed
    msg = res.result("Cleanup")["msg"]
    assert msg.startswith("The catalog 'cns_t") and "holds no replica on the storage element" in msg
    assert msg.count(". ") == 0 and msg.endswith("(nothing was deleted).")
    assert listing(site["root"]) == before


def test_quarantine_on_xrootd(site):
    qbase = site["base"] + "-quarantine"
    params = {"dark": str(site["dark"]), "catalog": site["spec"], "se": SE, "strip_prefix": TOP,
              "storage_url": site["storage_url"], "ignore": ["^/user/"], "quarantine": "/" + qbase}
    before = listing(site["root"])
    r = dc.run_dark_cleanup(params)
    assert r["changed"] and r["deleted"] == []
    assert r["quarantined"] == [{"path": p, "url": f"{site['xrootd'].url}//{qbase}{p}"} for p in sorted(DARK)]
    qroot = site["xrootd"].path(qbase)
    for p in DARK:
        assert (qroot / p.lstrip("/")).read_text() == f"content of {p}"
    assert files_of(listing(site["root"])) == [f for f in files_of(before) if f not in DARK]
    again = dc.run_dark_cleanup(params)
    assert not again["changed"] and again["counts"]["already_done"] == len(DARK) + 1


# ------------------------------------------------------------------------------------------------
# a run killed mid-way resumes; every deletion is logged before it is made


KILLER = r"""
import json, os, signal, sys, threading
sys.path.insert(0, %(collections)r)
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.dark import run_dark_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import Storage
params, n, where, log = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
done = [0]
lock = threading.Lock()

def note(what, url):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (what + ' ' + url + '\n').encode())
    os.fsync(fd)
    os.close(fd)

class LoggedStorage(Storage):
    def unlink(self, url):
        with lock:
            if where == 'before_unlink' and done[0] + 1 == n:     # journalled as started, not deleted
                os.kill(os.getpid(), signal.SIGKILL)
        note('call', url)
        out = Storage.unlink(self, url)
        note(out, url)                                           # 'deleted' or 'missing'
        with lock:
            done[0] += 1
            if where == 'after_unlink' and done[0] == n:        # deleted, the journal does not know yet
                os.kill(os.getpid(), signal.SIGKILL)
        return out

print(json.dumps(run_dark_cleanup(params, storage=LoggedStorage(timeout=30)), default=str))
"""


def run_core(params, n, where, log):
    return subprocess.run([sys.executable, "-c", KILLER % {"collections": COLLECTIONS}, json.dumps(params), str(n),
                           where, str(log)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("where, concurrency", [("after_unlink", 1), ("before_unlink", 1), ("after_unlink", 3)])
def test_killed_mid_run_resumes_deleting_each_file_exactly_once(tmp_path, mariadb, cns_db, xrootd, xrootd_dir,
                                                                where, concurrency):
    seed.seed_dpm(mariadb, cns_db, [])
    spec = mysql_spec(mariadb, cns_db)
    base = xrootd_dir.strip("/")
    dark = [f"/kill/k{i:02d}.root" for i in range(10)]
    keep = ["/kill/catalogued.root", "/kill/young.root"]
    xrootd.seed({f"{base}{rel}": rel for rel in dark + keep},
                mtime={f"{base}{rel}": (NOW if rel.endswith("young.root") else OLD) for rel in dark + keep})
    register(spec, ["/kill/catalogued.root"])
    lst = tmp_path / "confirmed_dark.list"
    lst.write_text("".join(p + "\n" for p in dark + keep))
    log = tmp_path / "unlink.log"
    url = f"{xrootd.url}//{base}"
    params = {"dark": str(lst), "catalog": spec, "se": SE, "strip_prefix": TOP, "storage_url": url,
              "concurrency": concurrency}
    before = listing(xrootd.path(base))

    first = run_core(params, 4, where, log)
    assert first.returncode == -signal.SIGKILL, first.stderr
    journal = [json.loads(line) for line in (tmp_path / "confirmed_dark.list.dark_data_cleanup.journal")
               .read_text().splitlines()[1:]]
    in_doubt = {r["item"] for r in journal if r["state"] == "started"} - {
        r["item"] for r in journal if r["state"] == "done"}
    if concurrency == 1:
        assert [(r["item"], r["state"]) for r in journal] == [
            (p, s) for p in dark[:3] for s in ("started", "done")] + [(dark[3], "started")]
    assert in_doubt
    first_log = log.read_text().splitlines()
    if concurrency == 1:
        assert len(first_log) == (8 if where == "after_unlink" else 6)    # call+deleted per file before the kill
        assert first_log[-1] == "deleted " + url + dark[3 if where == "after_unlink" else 2]

    second = run_core(params, 0, where, log)
    assert second.returncode == 0, second.stderr
    r = json.loads(second.stdout)
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    calls = sorted(u for k, u in lines if k == "call")
    deleted = sorted(u for k, u in lines if k == "deleted")
    resolved = sorted(url + x["path"] for x in r["resolved"] if x["outcome"] == "deleted")
    assert not [u for k, u in lines if k == "missing"], "an unlink found its file already gone"
    # every dark file was deleted exactly once over the two runs: by one completed unlink, or by the killed run's
    # unlink that the kill interrupted before its result was logged (settled from the storage by the second run)
    dark_urls = [url + p for p in dark]
    for u in dark_urls:
        n = deleted.count(u)
        assert n == 1 or (n == 0 and u in resolved and u in calls), (u, n)
    assert set(deleted) | set(resolved) == set(dark_urls) and set(calls) == set(dark_urls)
    if concurrency == 1:
        assert calls == sorted(url + p for p in dark)     # one call per file, not a single one repeated
    else:
        # a second call only for a file whose first call the kill interrupted before the server deleted it
        assert set(calls) == {url + p for p in dark}
        assert all(calls.count(u) == 1 or u in in_doubt_urls(in_doubt, url) for u in calls)
    after = listing(xrootd.path(base))
    assert files_of(after) == sorted(keep)
    assert [e for e in after if not e[1]] == [e for e in before if not e[1] and e[0] in keep]
    c = r["counts"]
    assert c["deleted"] + c["resolved"] + c["already_done"] == len(dark) and c["remaining"] == 0
    assert c["in_catalog"] == 1 and c["too_young"] == 1
    if where == "after_unlink" and concurrency == 1:
        assert r["resolved"] == [{"path": dark[3], "outcome": "deleted"}]
    if where == "before_unlink":
        assert r["resolved"] == [] and dark[3] in r["deleted"]

    third = run_core(params, 0, where, log)
    assert not json.loads(third.stdout)["changed"]
    assert len(log.read_text().splitlines()) == len(lines)


def in_doubt_urls(items, url):
    return {url + p for p in items}


def test_rate_limit_on_xrootd(tmp_path, mariadb, cns_db, xrootd, xrootd_dir):
    """Six files at rate 10/s: five intervals of 0.1 s at least, loosely (a factor of 2)."""
    seed.seed_dpm(mariadb, cns_db, [])
    spec = mysql_spec(mariadb, cns_db)
    base = xrootd_dir.strip("/")
    names = [f"/rate/f{i}" for i in range(6)]
    xrootd.seed({f"{base}{n}": b"x" for n in names + ["/rate/anchor"]}, mtime=OLD)
    register(spec, ["/rate/anchor"])          # catalogued and on the storage: the storage shows what it holds
    lst = tmp_path / "dark.list"
    lst.write_text("".join(n + "\n" for n in names))
    t0 = time.monotonic()
    r = dc.run_dark_cleanup({"dark": str(lst), "catalog": spec, "se": SE, "strip_prefix": TOP,
                             "storage_url": f"{xrootd.url}//{base}", "rate": 10, "concurrency": 3})
    elapsed = time.monotonic() - t0
    assert r["deleted"] == names
    assert elapsed >= 0.25, elapsed
