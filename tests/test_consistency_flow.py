# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The whole VO flow on real servers, through ansible-playbook as a VO manager runs it:

a MariaDB catalog (LFC schema) and an XRootD storage element seeded with consistent, dark, lost,
too-young and ignored files -> playbooks/consistency_check.yml (catalog dump, XRootD scan, catalog
dump, compare) -> playbooks/dark_data_cleanup.yml and playbooks/catalog_cleanup.yml (handed the check's
job artifact as extra vars, as AWX hands it on), each in check mode, for real, and again. Listings of
the storage and of the catalog before and after prove that exactly the dark files and exactly the lost
entries went, and nothing else.

Also: the races the 3-dump comparison protects against, on the real servers, and the thresholds.
"""

from __future__ import annotations

import os
import time

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog

SE = "se.test.example"
NOW = int(time.time())
OLD = NOW - 60 * 86400
CONSISTENT = ["store/mc/a.root", "store/mc/sub/b.root", "store/data/c.root", "store/user/with space.root",
              "store/user/ünï.root"]
DARK = ["store/mc/orphan.root", "store/user/forgotten.root"]
LOST = ["store/data/gone.root"]
YOUNG = ["store/mc/young.root"]            # on storage only, modified now: too young to be dark
IGNORED = ["store/temp/partial.root"]      # on storage only, matches the ignore pattern


@pytest.fixture
def world(tmp_path, mariadb, cns_db, xrootd, xrootd_dir):
    top = xrootd_dir.strip("/") + "/vo"
    on_storage = CONSISTENT + DARK + IGNORED
    xrootd.seed({"%s/%s" % (top, rel): b"x" * (10 + i) for i, rel in enumerate(on_storage + YOUNG)},
                mtime=dict([("%s/%s" % (top, rel), OLD) for rel in on_storage] +
                           [("%s/%s" % (top, rel), NOW) for rel in YOUNG]))
    info = mariadb.conninfo(cns_db)
    catalog = {"backend": "mysql", "host": info["host"], "port": info["port"], "user": info["user"],
               "password": info["password"], "database": cns_db}
    sfn_head = "srm://%s:8446/srm/managerv2?SFN=/%s" % (SE, top)
    seed.seed_dpm(mariadb, cns_db, [])          # the namespace root, as a real LFC has it
    cat = open_catalog(catalog)
    try:
        cat.add_user("/DC=org/DC=example/CN=Test User")
        for i, rel in enumerate(CONSISTENT + LOST):
            cat.register_file("/grid/vo/" + rel, 10 + i, mtime=OLD, replicas=[(SE, "%s/%s" % (sfn_head, rel), "-")],
                              owner_dn="/DC=org/DC=example/CN=Test User")
        # another storage element's replica of a consistent file never matters here
        cat.register_file("/grid/vo/store/elsewhere.root", 1, mtime=OLD,
                          replicas=[("other.example", "srm://other.example/vo/store/elsewhere.root", "-")])
    finally:
        cat.close()
    work = tmp_path / "work"
    extra = {
        "vapor_catalog": catalog,
        "consistency_se": SE,
        "consistency_strip_prefix": "/" + top,
        "consistency_dir": str(work),
        "consistency_storage_url": "%s//%s" % (xrootd.url, top),
        "consistency_ignore": ["^/store/temp/"],
        "consistency_min_age": "1h",
        "consistency_max_dark_fraction": 0.5,
        "consistency_max_lost_fraction": 0.5,
        # confirmation over one run only: the multi-run confirmation itself is tested in the unit tests
        "consistency_confirm_runs": 1,
        "consistency_confirm_days": 0,
        "storage_dump_source": "xrootd",
        "storage_dump_url": xrootd.url,
        "storage_dump_roots": ["/" + top],
        "storage_dump_strip_prefix": "/" + top,
        "dark_data_min_age": "1h",
    }
    inv = ansible_runner.write_local_inventory(tmp_path / "inv.yml", group="vo_manager")
    return {"extra": extra, "inv": inv, "work": work, "top": top, "catalog": catalog, "xrootd": xrootd}


def storage_listing(w):
    root = w["xrootd"].path(w["top"])
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out["/" + os.path.relpath(p, root)] = (st.st_size, int(st.st_mtime))
    return out


def catalog_listing(w):
    cat = open_catalog(w["catalog"])
    try:
        rows = cat.all("SELECT m.fileid, m.name, m.filesize, r.host, r.sfn, r.status FROM Cns_file_metadata m "
                       "LEFT JOIN Cns_file_replica r ON r.fileid = m.fileid WHERE (m.filemode & 61440) = 32768")
    finally:
        cat.close()
    return sorted((str(r[1]), r[2], r[3], str(r[4]) if r[4] is not None else None, r[5]) for r in rows)


def slash(rels):
    return ["/" + r for r in rels]


@pytest.mark.compat
def test_full_flow_removes_exactly_the_dark_files_and_the_lost_entries(world, run_playbook):
    extra, inv = world["extra"], world["inv"]
    storage0, catalog0 = storage_listing(world), catalog_listing(world)

    check = run_playbook("playbooks/consistency_check.yml", extra, check=True, inventory=inv)
    res = check.result("Compare the three dumps")
    assert res["dark"] == 2 and res["lost"] == 1
    assert not os.path.exists(world["work"] / "runs") or not os.listdir(world["work"] / "runs")
    artifact = check.json["global_custom_stats"]["vapor_consistency_check"]["localhost"]
    assert artifact["dark"] == 2 and "run_dir" not in artifact        # check mode: no run written, none named

    real = run_playbook("playbooks/consistency_check.yml", extra, inventory=inv)
    res = real.result("Compare the three dumps")
    run_dir = res["run_dir"]
    read = lambda name: open(os.path.join(run_dir, name), encoding="utf-8").read().splitlines()  # noqa: E731
    assert read("dark.list") == sorted(slash(DARK))
    assert read("lost.list") == slash(LOST)
    assert read("confirmed_dark.list") == sorted(slash(DARK))
    assert res["stats"]["counts"]["excluded"] == {"dark_ignored": 1, "dark_young": 1}

    # the cleanups take the run from the check's job artifact for their host, as the next jobs of an AWX workflow
    artifacts = real.json["global_custom_stats"]
    assert artifacts["vapor_consistency_check"]["localhost"]["run_dir"] == run_dir
    extra_run = dict(extra, **artifacts)

    # dark data: check, real, again
    check = run_playbook("playbooks/dark_data_cleanup.yml", extra_run, check=True, inventory=inv)
    assert check.changed == 1 and storage_listing(world) == storage0
    real = run_playbook("playbooks/dark_data_cleanup.yml", extra_run, inventory=inv)
    assert real.changed == 1
    again = run_playbook("playbooks/dark_data_cleanup.yml", extra_run, inventory=inv)
    assert again.changed == 0, again.explain()
    after = storage_listing(world)
    assert sorted(set(storage0) - set(after)) == sorted(slash(DARK))
    assert all(after[p] == storage0[p] for p in after), "a file that stayed was modified"
    assert set(after) <= set(storage0)

    # lost files: check (with diff), real, again
    check = run_playbook("playbooks/catalog_cleanup.yml", extra_run, check=True, diff=True, inventory=inv)
    assert check.changed == 1 and catalog_listing(world) == catalog0
    real = run_playbook("playbooks/catalog_cleanup.yml", extra_run, inventory=inv)
    assert real.changed == 1
    again = run_playbook("playbooks/catalog_cleanup.yml", extra_run, inventory=inv)
    assert again.changed == 0, again.explain()
    catalog1 = catalog_listing(world)
    gone = [row for row in catalog0 if row not in catalog1]
    assert [row[0] for row in gone] == ["gone.root"] and not [row for row in catalog1 if row not in catalog0]

    # the next consistency run finds the storage element consistent
    real = run_playbook("playbooks/consistency_check.yml", extra, inventory=inv)
    res = real.result("Compare the three dumps")
    assert res["dark"] == 0 and res["lost"] == 0


def test_races_during_the_scan(world, run_playbook, tmp_path):
    """A file registered while the storage is scanned is never dark; a file deleted meanwhile is never lost.

    The three dumps are taken one by one with the modules (as the playbook does), and the catalog and the
    storage change between them the way transfers and deletions do during a real scan.
    """
    from ansible_collections.vapor.ops.plugins.module_utils._catalog import dump as _catalog
    from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as _consistency
    from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump as _se_dump
    extra = world["extra"]
    x = world["xrootd"]
    top = world["top"]
    mapping = dict(catalog=world["catalog"], se=SE, strip_prefix="/" + top, format="cms", compression="gzip",
                   force=True)
    d = tmp_path / "dumps"
    for sub in ("before", "scan", "after"):
        (d / sub).mkdir(parents=True)
    sfn_head = "srm://%s:8446/srm/managerv2?SFN=/%s" % (SE, top)

    before = _catalog.run_catalog_dump(dict(mapping, dest=str(d / "before")))
    time.sleep(1.1)
    # a transfer lands: on storage before the scan, registered only after the scan
    x.seed({"%s/store/new/arrived.root" % top: b"n" * 5}, mtime={"%s/store/new/arrived.root" % top: OLD})
    # a deletion: the storage copy goes before the scan, the catalog entry only after it
    os.unlink(x.path("%s/store/mc/a.root" % top))
    scan = _se_dump.run({"source": "xrootd", "url": x.url, "roots": ["/" + top], "strip_prefix": "/" + top,
                         "dest": str(d / "scan"), "name": "scan_%Y%m%d_%H%M%S", "format": "cms"})
    cat = open_catalog(world["catalog"])
    try:
        cat.register_file("/grid/vo/store/new/arrived.root", 5, mtime=OLD,
                          replicas=[(SE, sfn_head + "/store/new/arrived.root", "-")])
        fid = cat.lookup("/grid/vo/store/mc/a.root")
        fid = getattr(fid, "fileid", fid)
        for rep in cat.replicas(fid):
            cat.remove_replica(rep)
    finally:
        cat.close()
    time.sleep(1.1)
    after = _catalog.run_catalog_dump(dict(mapping, dest=str(d / "after")))
    res = _consistency.run({"catalog_before": before["dump"], "storage_dump": scan["dump"],
                            "catalog_after": after["dump"], "output_dir": str(tmp_path / "runs"),
                            "ignore": extra["consistency_ignore"], "min_age": "1h",
                            "max_dark_fraction": 0.5, "max_lost_fraction": 0.5})
    dark = open(os.path.join(res["run_dir"], "dark.list")).read().splitlines()
    lost = open(os.path.join(res["run_dir"], "lost.list")).read().splitlines()
    assert "/store/new/arrived.root" not in dark
    assert "/store/mc/a.root" not in lost
    assert dark == sorted(slash(DARK)) and lost == slash(LOST)


def test_empty_or_half_storage_dump_aborts(world, run_playbook, tmp_path):
    """Site-published mode: a dump of a half-mounted area, then of an empty one, aborts with one sentence."""
    extra, inv = world["extra"], world["inv"]
    run_playbook("playbooks/catalog_dump.yml", extra, inventory=inv)     # the scheduled "before" dump
    site = tmp_path / "site"
    site.mkdir()
    site_extra = dict(extra, consistency_mode="site_published", consistency_site_dumps=str(site),
                      consistency_max_lost_fraction=0.1)

    def publish(data):
        for f in site.iterdir():
            f.unlink()
        time.sleep(1.1)               # the site's dump is named after the catalog dump, to the second
        name = "dump_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime())
        (site / name).write_bytes(data)
        time.sleep(1.1)               # and the "after" catalog dump the playbook takes is later still

    # half of the storage element's files are missing from the dump (a partly mounted area)
    publish("".join(p + "\n" for p in sorted(slash(CONSISTENT))[:2]).encode("utf-8"))
    r = run_playbook("playbooks/consistency_check.yml", site_extra, inventory=inv, expect_failure=True)
    msg = r.result("Compare the three dumps")["msg"]
    assert "lost" in msg and "max_lost_fraction" in msg and "\n" not in msg, msg
    runs = world["work"] / "runs"
    assert not [n for n in os.listdir(runs) if not n.endswith(".failed") and not n.startswith(".")]
    # an empty dump (an unmounted area)
    publish(b"")
    r = run_playbook("playbooks/consistency_check.yml", site_extra, inventory=inv, expect_failure=True)
    msg = r.result("Compare the three dumps")["msg"]
    assert "empty" in msg and "\n" not in msg, msg
    assert not [n for n in os.listdir(runs) if not n.endswith(".failed") and not n.startswith(".")]


def test_site_dump_reused_never_confirms_and_dotdot_is_refused(world, run_playbook, tmp_path):
    """Issue 8: the same published storage dump compared again and again never confirms dark files, and a
    published dump holding a '..' path is refused in one sentence with nothing published."""
    extra, inv = world["extra"], world["inv"]
    run_playbook("playbooks/catalog_dump.yml", extra, inventory=inv)     # the scheduled "before" dump
    site = tmp_path / "site"
    site.mkdir()
    site_extra = dict(extra, consistency_mode="site_published", consistency_site_dumps=str(site),
                      consistency_confirm_runs=3, consistency_confirm_days=0)
    time.sleep(1.1)
    name = "dump_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    (site / name).write_bytes("".join(p + "\n" for p in sorted(slash(CONSISTENT + DARK))).encode("utf-8"))
    time.sleep(1.1)
    results = []
    for _ in range(3):
        r = run_playbook("playbooks/consistency_check.yml", site_extra, inventory=inv)
        results.append(r.result("Compare the three dumps"))
    assert [res["dark"] for res in results] == [2, 2, 2]
    assert len({res["run_id"] for res in results}) == 3
    last = results[-1]
    assert not last["confirmed"] and last["confirmed_dark"] == 0
    assert last["stats"]["confirmation"]["runs"] == [last["run_id"]]
    assert len(last["stats"]["confirmation"]["skipped_runs"]) == 2

    runs = world["work"] / "runs"
    before = sorted(os.listdir(runs))
    (site / name).unlink()
    time.sleep(1.1)
    bad = site / ("dump_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime()))
    bad.write_bytes("".join(p + "\n" for p in slash(CONSISTENT) + ["/store/../../etc/passwd"]).encode("utf-8"))
    time.sleep(1.1)
    r = run_playbook("playbooks/consistency_check.yml", site_extra, inventory=inv, expect_failure=True)
    msg = r.result("Compare the three dumps")["msg"]
    assert msg == ("The storage_dump '%s' is refused: line %d holds '/store/../../etc/passwd', which is not a "
                   "normalised absolute file path (its '..' component could name a file outside the area, so no "
                   "reader accepts it)." % (bad, len(CONSISTENT) + 1)), msg
    assert [n for n in sorted(os.listdir(runs)) if not n.endswith(".failed")] == \
        [n for n in before if not n.endswith(".failed")]
