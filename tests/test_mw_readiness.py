# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/mw_readiness.yml through ansible-playbook, as a VO manager or an AWX job runs it.

Report files received from two sites, live reports of three hosts of an inventory group (their
vapor_versions_report and vapor_site), one host that sent nothing, a site with no report at all and a report of a
site that is not in the baseline. Check mode first (nothing written, the files a real run would write named), the
real run (the CSV, the JSON and the HTML page read back: statuses, versions, hosts, escaping, nothing external),
a second run that changes nothing, a change of the baseline that rewrites the files; a bad report file ends the run
with one sentence and writes nothing. The page is also rendered in headless Chromium when it is installed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
from html.parser import HTMLParser

import pytest

import ansible_runner

PLAYBOOK = "playbooks/mw_readiness.yml"
TASK = "Write the readiness matrix"
FILES = ("mw_readiness.csv", "mw_readiness.json", "mw_readiness.html")

BASELINE = {
    "title": "Readiness <test> & co",
    "products": [
        {"name": "StoRM", "service_type": "storm", "version": "1.11.22-1.el9"},
        {"name": "dCache", "service_type": "dcache", "version": "9.2.5"},
        {"name": "ARC CE", "service_type": "nordugrid-arc", "version": "6.18.0-1", "scheme": "dpkg"},
    ],
    "sites": ["SITE-FILE", {"name": "SITE-DEB", "scheme": "dpkg"}, "SITE-LIVE", "SITE-QUIET"],
}
FILE_REPORTS = {
    "SITE-FILE": [
        {"hostname": "se1.file.example", "service_type": "storm", "version": "1.11.22-1.el9"},
        {"hostname": "dc.file.example", "service_type": "dcache", "version": "9.2.4-2.el9"},
    ],
    "SITE-DEB": [
        {"hostname": "ce.deb.example", "service_type": "nordugrid-arc", "version": "6.18.0-1+deb12u1"},
        {"hostname": "se.deb.example", "service_type": "storm", "version": "1.11.22-1.el9~bpo1"},
    ],
    "SITE-STRAY": [
        {"hostname": "x.stray.example", "service_type": "storm", "version": "1.0-1"},
    ],
}
LIVE_HOSTS = {
    "se1.live.example": {"vapor_site": "SITE-LIVE", "vapor_versions_report": [
        {"hostname": "se1.live.example", "service_type": "storm", "version": "1.11.21-1.el9"}]},
    "se2.live.example": {"vapor_site": "SITE-LIVE", "vapor_versions_report": [
        {"hostname": "se2.live.example", "service_type": "storm", "version": "1.11.22-1.el9"},
        {"hostname": "se2.live.example", "service_type": "dcache", "version": "1:9.0.0-1"}]},
    "ce.live.example": {"vapor_site": "SITE-LIVE", "vapor_version_scheme": "dpkg", "vapor_versions_report": []},
    "silent.quiet.example": {"vapor_site": "SITE-QUIET"},
}
# (product, site) -> (status, installed)
EXPECTED = {
    ("ARC CE", "SITE-DEB"): ("newer", "6.18.0-1+deb12u1"),
    ("ARC CE", "SITE-FILE"): ("missing", ""),
    ("ARC CE", "SITE-LIVE"): ("missing", ""),
    ("ARC CE", "SITE-QUIET"): ("no-report", ""),
    ("StoRM", "SITE-DEB"): ("older", "1.11.22-1.el9~bpo1"),
    ("StoRM", "SITE-FILE"): ("as-expected", "1.11.22-1.el9"),
    ("StoRM", "SITE-LIVE"): ("several", "1.11.21-1.el9; 1.11.22-1.el9"),
    ("StoRM", "SITE-QUIET"): ("no-report", ""),
    ("dCache", "SITE-DEB"): ("missing", ""),
    ("dCache", "SITE-FILE"): ("older", "9.2.4-2.el9"),
    ("dCache", "SITE-LIVE"): ("newer", "1:9.0.0-1"),
    ("dCache", "SITE-QUIET"): ("no-report", ""),
}


@pytest.fixture
def world(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = []
    for site, entries in FILE_REPORTS.items():
        path = incoming / ("%s.json" % site.lower())
        path.write_text(json.dumps(entries))
        files.append({"site": site, "path": str(path)})
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": ansible_runner.local_python()}}
    inv = {"all": {"hosts": hosts, "children": {"mw_sites": {"hosts": LIVE_HOSTS}}}}
    inv_path = tmp_path / "inventory.yml"
    inv_path.write_text(json.dumps(inv, indent=2))
    dest = tmp_path / "reports" / "mw"
    extra = {"mw_readiness_baseline": BASELINE, "mw_readiness_report_files": files, "mw_readiness_hosts": "mw_sites",
             "mw_readiness_dest": str(dest)}
    return {"extra": extra, "inv": inv_path, "dest": dest, "incoming": incoming}


class Page(HTMLParser):
    """What a browser would load and run, and the matrix cells (data-status) of a page."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.tags, self.urls, self.statuses, self.text = set(), [], [], []
        self.table = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "data")]
        if tag == "table":
            self.table = a.get("class")
        if tag == "td" and self.table == "matrix" and "data-status" in a:
            self.statuses.append(a["data-status"])

    def handle_data(self, data):
        self.text.append(data)


def check_outputs(dest):
    for name in FILES:
        assert stat.S_IMODE(os.stat(dest / name).st_mode) == 0o644
    assert sorted(os.listdir(dest)) == sorted(FILES), "a temporary file was left"
    with open(dest / "mw_readiness.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["product"], r["site"]): (r["status"], r["installed"]) for r in rows} == EXPECTED
    assert len(rows) == len(EXPECTED)
    live = [r for r in rows if (r["product"], r["site"]) == ("StoRM", "SITE-LIVE")][0]
    assert live["hosts"] == "se1.live.example; se2.live.example"
    assert live["detail"] == "1.11.21-1.el9: older (se1.live.example); 1.11.22-1.el9: as-expected (se2.live.example)"

    matrix = json.loads((dest / "mw_readiness.json").read_text(encoding="utf-8"))
    assert matrix["unexpected_sites"] == [{"site": "SITE-STRAY", "hosts": ["x.stray.example"], "entries": 1,
                                           "sources": [str(dest.parent.parent / "incoming" / "site-stray.json")]}]
    sites = {s["name"]: s for s in matrix["sites"]}
    assert sites["SITE-LIVE"]["hosts"] == ["ce.live.example", "se1.live.example", "se2.live.example"]
    assert sites["SITE-QUIET"]["reported"] is False
    assert matrix["summary"]["by_status"] == {"as-expected": 1, "older": 2, "newer": 2, "missing": 3, "several": 1,
                                              "no-report": 3}

    page_text = (dest / "mw_readiness.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(page_text)
    assert page.urls == [] and not page.tags & {"script", "link", "img", "iframe", "object"}
    order = [(p["name"], s) for p in BASELINE["products"] for s in [x if isinstance(x, str) else x["name"]
                                                                    for x in BASELINE["sites"]]]
    assert page.statuses == [EXPECTED[k][0] for k in order]
    assert "Readiness &lt;test&gt; &amp; co" in page_text and "Readiness <test> & co" in "".join(page.text)
    return matrix


@pytest.mark.compat
def test_check_then_real_then_no_change(world, run_playbook):
    extra, inv, dest = world["extra"], world["inv"], world["dest"]

    check = run_playbook(PLAYBOOK, extra, check=True, diff=True, inventory=inv)
    res = check.result(TASK)
    assert check.changed == 1 and res["changed"]
    assert not dest.exists(), "check mode wrote something"
    assert sorted(res["changed_files"]) == sorted(str(dest / n) for n in FILES)
    assert res["summary"]["by_status"]["several"] == 1 and res["unexpected_sites"] == ["SITE-STRAY"]
    assert len(res["diff"]) == 3
    silent = check.result("Say which live hosts sent nothing")
    assert silent["msg"] == ("No versions report (vapor_versions_report or mw_readiness_published) from "
                             "silent.quiet.example.")
    artifact = check.json["global_custom_stats"]["vapor_mw_readiness"]["localhost"]
    assert "files" not in artifact and "dest" not in artifact and "matrix" not in artifact
    assert artifact["summary"] == res["summary"]

    real = run_playbook(PLAYBOOK, extra, inventory=inv)
    res = real.result(TASK)
    assert real.changed == 1 and res["changed"]
    assert res["files"] == {"csv": str(dest / FILES[0]), "json": str(dest / FILES[1]), "html": str(dest / FILES[2])}
    matrix = check_outputs(dest)
    assert res["matrix"] == matrix
    artifact = real.json["global_custom_stats"]["vapor_mw_readiness"]["localhost"]
    assert artifact["files"] == res["files"] and artifact["unexpected_sites"] == ["SITE-STRAY"]
    mtimes = {n: os.stat(dest / n).st_mtime_ns for n in FILES}

    again = run_playbook(PLAYBOOK, extra, inventory=inv)
    assert again.changed == 0, again.explain()
    assert again.result(TASK)["changed_files"] == []
    assert {n: os.stat(dest / n).st_mtime_ns for n in FILES} == mtimes
    assert run_playbook(PLAYBOOK, extra, check=True, inventory=inv).changed == 0

    newer = dict(extra, mw_readiness_baseline=dict(BASELINE, products=[dict(BASELINE["products"][0],
                                                                            version="1.11.21-1.el9")]))
    changed = run_playbook(PLAYBOOK, newer, inventory=inv)
    assert changed.changed == 1
    rows = json.loads((dest / "mw_readiness.json").read_text())["rows"]
    assert {(r["product"], r["site"]): r["status"] for r in rows} == {
        ("StoRM", "SITE-DEB"): "newer", ("StoRM", "SITE-FILE"): "newer", ("StoRM", "SITE-LIVE"): "several",
        ("StoRM", "SITE-QUIET"): "no-report"}


def test_files_only_and_a_baseline_file(world, run_playbook, tmp_path):
    baseline = tmp_path / "baseline.yml"
    baseline.write_text("products:\n  - name: StoRM\n    service_type: storm\n    version: '1.11.22-1.el9'\n"
                        "sites: [SITE-FILE, SITE-QUIET]\n")
    extra = {"mw_readiness_baseline_file": str(baseline), "mw_readiness_report_files": world["extra"][
        "mw_readiness_report_files"], "mw_readiness_dest": str(world["dest"]), "mw_readiness_formats": ["csv"]}
    res = run_playbook(PLAYBOOK, extra, inventory=world["inv"]).result(TASK)
    assert os.listdir(world["dest"]) == ["mw_readiness.csv"]
    assert res["summary"]["by_status"]["as-expected"] == 1 and res["summary"]["by_status"]["no-report"] == 1
    assert sorted(res["unexpected_sites"]) == ["SITE-DEB", "SITE-STRAY"]


def test_a_bad_report_file_fails_with_one_sentence_and_writes_nothing(world, run_playbook):
    bad = world["incoming"] / "site-deb.json"
    bad.write_text('[{"hostname": "ce.deb.example", "service_type": "nordugrid-arc", "version": 6.18}]')
    res = run_playbook(PLAYBOOK, world["extra"], inventory=world["inv"], expect_failure=True)
    (name, host, result), = res.failed_results()
    assert name == TASK
    assert result["msg"] == "The report file '%s' has an entry 1 whose version is the number 6.18, not a string." % bad
    assert not world["dest"].exists()


def test_a_live_host_without_its_site_stops_the_run(world, run_playbook, tmp_path):
    inv = json.loads(world["inv"].read_text())
    del inv["all"]["children"]["mw_sites"]["hosts"]["se1.live.example"]["vapor_site"]
    world["inv"].write_text(json.dumps(inv))
    res = run_playbook(PLAYBOOK, world["extra"], inventory=world["inv"], expect_failure=True)
    (name, host, result), = res.failed_results()
    assert name == "Check that every live host with a report names its site"
    assert "The host 'se1.live.example' has a versions report but no vapor_site: set it to the name its site has in " \
        "the baseline." in json.dumps(result)
    assert not world["dest"].exists()


def test_reports_published_by_earlier_jobs(world, run_playbook):
    """A host without its own vapor_versions_report takes the report an earlier job published for it
    (mw_readiness_published, what vars/chain.yml maps the artifact of playbooks/package_report.yml to), with the
    packager as its scheme; a host's own report wins over a published one."""
    inv = json.loads(world["inv"].read_text())
    inv["all"]["children"]["mw_sites"]["hosts"]["pub.quiet.example"] = {"vapor_site": "SITE-QUIET"}
    world["inv"].write_text(json.dumps(inv))
    published = {
        # '1.11.22.-1.el9' is 1.11.22-1.el9 to rpm and newer than it to dpkg, the packager named here
        "pub.quiet.example": {"versions": [{"hostname": "pub.quiet.example", "service_type": "storm",
                                            "version": "1.11.22.-1.el9"}], "packager": "dpkg", "counts": {}},
        "se1.live.example": {"versions": [], "packager": "rpm"},         # its own report wins
        "not.in.the.group": {"versions": [{"hostname": "x", "service_type": "storm", "version": "0.1-1"}]},
    }
    res = run_playbook(PLAYBOOK, dict(world["extra"], mw_readiness_published=published),
                       inventory=world["inv"]).result(TASK)
    rows = {(r["product"], r["site"]): r for r in res["matrix"]["rows"]}
    assert (rows[("StoRM", "SITE-QUIET")]["status"], rows[("StoRM", "SITE-QUIET")]["scheme"]) == ("newer", "dpkg")
    assert rows[("StoRM", "SITE-QUIET")]["hosts"] == ["pub.quiet.example"]
    assert rows[("dCache", "SITE-QUIET")]["status"] == "missing"
    assert rows[("StoRM", "SITE-LIVE")]["status"] == "several"
    hosts = [h for site in res["matrix"]["sites"] for h in site["hosts"]]
    assert "pub.quiet.example" in hosts and "x" not in hosts and res["unexpected_sites"] == ["SITE-STRAY"]


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_page_renders_in_headless_chromium(world, run_playbook, tmp_path):
    run_playbook(PLAYBOOK, world["extra"], inventory=world["inv"])
    page = world["dest"] / "mw_readiness.html"
    home = tmp_path / "chromium-home"
    home.mkdir()
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           "--user-data-dir=%s" % home, page.as_uri()], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HOME=str(home)), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Page()
    dom.feed(proc.stdout)
    assert dom.statuses == [s for s, _ in (EXPECTED[(p["name"], s if isinstance(s, str) else s["name"])]
                                           for p in BASELINE["products"] for s in BASELINE["sites"])]
    shutil.rmtree(home, ignore_errors=True)
