# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GOCDB: the inventory plugin vapor.ops.gocdb through the real `ansible-inventory --list` and `ansible-playbook`,
and the module vapor.ops.gocdb_info through `ansible-playbook`, against the local GOCDB of tests/gocdb_server.py
(HTTPS with the test CA, cursor paging two records a page).

- hosts, groups (site_*, service_* under gocdb) and gocdb_* variables, read over several pages; GOCDB's LIKE
  matching of a site name does not leak another site's hosts; production, monitored and scope filters;
- keyed_groups, compose, groups; a playbook that targets service_SRM runs on exactly the SRM hosts, and a GOCDB
  value that looks like a template is never templated;
- the inventory cache: with the server stopped, the cached hosts come back; a changed filter or --flush-cache
  does not use them;
- malformed XML, an <error> body (with HTTP 200), a paging loop, an HTML page, a plain-text error, HTTP 500: the
  source fails with one sentence naming the URL and the cause;
- gocdb_info: endpoints, sites (short and, through the private URL with a client certificate, detailed),
  downtimes going on and scheduled with severity and classification, ongoing only, a window, another scope;
  check mode returns the same; GOCDB's errors fail the task with one sentence.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ansible_runner
from gocdb_server import GocdbServer

REPO = Path(__file__).resolve().parent.parent
SRM_HOSTS = ["se.beta.example.org", "se.xbeta.example.org", "se01.alpha.example.org"]
# the hosts of the production service endpoints in GOCDB's default scope (EGI)
EGI_PRODUCTION_HOSTS = ["ce01.alpha.example.org", "se.beta.example.org", "se.xbeta.example.org",
                        "se01.alpha.example.org", "ui.beta.example.org"]



@pytest.fixture
def gocdb(ca):
    server = GocdbServer(ca, page_size=2).start()
    yield server
    server.stop()


def plain(value):
    """ansible-inventory's JSON without its markers of untrusted (unsafe) values."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def source(tmp_path, server, name="site.gocdb.yml", **options):
    """An inventory source for the plugin (JSON is YAML) reading ``server`` through the test CA."""
    config = {"plugin": "vapor.ops.gocdb", "url": server.url, "ca_path": str(server.ca.ca_file),
              "use_proxy": False, "retries": 1, "retry_backoff": 0.05, "timeout": 30}
    config.update(options)
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=1))
    return path


def ansible_env(tmp_path, **extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
               PYTHONDONTWRITEBYTECODE="1")
    for name in ("X509_USER_PROXY", "X509_USER_CERT", "X509_USER_KEY", "X509_CERT_DIR", "BEARER_TOKEN",
                 "BEARER_TOKEN_FILE"):
        env.pop(name, None)
    env.update(extra)
    return env


def squash(text):
    """``text`` without any whitespace: older ansible-core wraps warnings at 79 columns, even inside a URL."""
    return re.sub(r"\s+", "", text)


def inventory(tmp_path, src, *args, expect_failure=False, env=None):
    """``ansible-inventory -i src --list``: the inventory as data, or (expect_failure) stderr squashed."""
    cmd = [ansible_runner.ansible_tool("ansible-inventory"), "-i", str(src), "--list", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(tmp_path, **(env or {})), capture_output=True, text=True,
                          timeout=300,
                          stdin=subprocess.DEVNULL)
    if expect_failure:
        assert proc.returncode != 0, proc.stdout[-3000:]
        return squash(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return plain(json.loads(proc.stdout))


def hosts_of(inv, group):
    return sorted(inv.get(group, {}).get("hosts", []))


def service_requests(server):
    return [r for r in server.requests if r.method == "get_service_endpoint"]


# -- the inventory plugin ----------------------------------------------------------------------------------------


@pytest.mark.compat   # controller-side code: the inventory plugin API of each ansible-core
def test_hosts_groups_and_variables_over_several_pages(tmp_path, gocdb):
    inv = inventory(tmp_path, source(tmp_path, gocdb))
    cursors = [r.params.get("next_cursor") for r in service_requests(gocdb)]
    assert cursors[0] == "0" and len(cursors) >= 3 and len(set(cursors)) == len(cursors)
    hostvars = inv["_meta"]["hostvars"]
    assert sorted(hostvars) == EGI_PRODUCTION_HOSTS            # ce02 is not in production; Local-only hosts left out
    assert sorted(inv["gocdb"]["children"]) == ["service_ARC_CE", "service_SRM", "service_org_example_vapor_ui",
                                                "service_webdav", "site_VAPORXBETA", "site_VAPOR_ALPHA",
                                                "site_VAPOR_BETA"]
    assert hosts_of(inv, "service_SRM") == SRM_HOSTS
    assert hosts_of(inv, "service_webdav") == ["se01.alpha.example.org"]
    assert hosts_of(inv, "site_VAPOR_ALPHA") == ["ce01.alpha.example.org", "se01.alpha.example.org"]
    se = hostvars["se01.alpha.example.org"]
    assert se["gocdb_service_types"] == ["SRM", "webdav"]
    assert (se["gocdb_site"], se["gocdb_sites"], se["gocdb_ngi"], se["gocdb_country"]) == (
        "VAPOR-ALPHA", ["VAPOR-ALPHA"], "NGI_ALPHA", "Alphaland")
    assert se["gocdb_in_production"] is True and se["gocdb_monitored"] is True and se["gocdb_scopes"] == ["EGI"]
    assert se["gocdb_urls"] == ["httpg://se01.alpha.example.org:8446/srm/managerv2",
                                "https://se01.alpha.example.org/dpm"]
    assert [(e["service_type"], e["name"], e["monitored"]) for e in se["gocdb_endpoints"]] == [
        ("SRM", "srm", True), ("webdav", "davs", True), ("webdav", "https", False)]
    assert se["gocdb_extensions"] == {"SE_PATH": "/dpm/alpha.example.org/home", "NOTE": "{{ 7 * 6 }}"}
    assert se["gocdb_host_dn"] == "/DC=org/DC=example/CN=se01.alpha.example.org"
    assert [s["primary_key"] for s in se["gocdb_services"]] == ["101G0", "102G0"]
    assert hostvars["se.beta.example.org"]["gocdb_monitored"] is False


@pytest.mark.parametrize("options, hosts", [
    # GOCDB's LIKE 'VAPOR_BETA' also matches VAPORXBETA: its host must not come in
    ({"sites": ["VAPOR_BETA"]}, ["se.beta.example.org", "ui.beta.example.org"]),
    ({"sites": ["vapor-alpha"], "production_only": False}, ["ce01.alpha.example.org", "ce02.alpha.example.org",
                                                            "se01.alpha.example.org"]),
    ({"monitored_only": True, "service_types": ["SRM", "ARC-CE"]}, ["ce01.alpha.example.org", "se.xbeta.example.org",
                                                                    "se01.alpha.example.org"]),
    ({"scope": ["Local"]}, ["cloud.gamma.example.org", "se.beta.example.org", "xrootd.beta.example.org"]),
    ({"scope": ["EGI", "Local"], "scope_match": "all"}, ["se.beta.example.org"]),
    ({"hostnames": ["SE01.alpha.example.org", "cloud.gamma.example.org"], "scope": []},
     ["cloud.gamma.example.org", "se01.alpha.example.org"]),
])
def test_filters(tmp_path, gocdb, options, hosts):
    inv = inventory(tmp_path, source(tmp_path, gocdb, **options))
    assert sorted(inv["_meta"]["hostvars"]) == hosts


def test_several_sites_are_one_query_each(tmp_path, gocdb):
    inventory(tmp_path, source(tmp_path, gocdb, sites=["VAPOR_BETA", "VAPOR-GAMMA"], scope=[]))
    assert sorted({r.params.get("sitename") for r in service_requests(gocdb)}) == ["VAPOR-GAMMA", "VAPOR_BETA"]


@pytest.mark.compat   # controller-side code: the inventory plugin API of each ansible-core
def test_keyed_groups_compose_and_groups(tmp_path, gocdb):
    inv = inventory(tmp_path, source(
        tmp_path, gocdb, strict=True,
        keyed_groups=[{"key": "gocdb_ngi", "prefix": "ngi"}, {"key": "gocdb_service_types", "prefix": "runs"}],
        compose={"gocdb_first_type": "gocdb_service_types | first",
                 "storage_path": "gocdb_extensions.SE_PATH | default('none')"},
        groups={"unmonitored": "not gocdb_monitored", "storage": "'SRM' in gocdb_service_types"}))
    assert hosts_of(inv, "ngi_NGI_ALPHA") == ["ce01.alpha.example.org", "se01.alpha.example.org"]
    assert hosts_of(inv, "ngi_NGI_BETA") == ["se.beta.example.org", "se.xbeta.example.org", "ui.beta.example.org"]
    assert hosts_of(inv, "runs_webdav") == ["se01.alpha.example.org"]
    assert hosts_of(inv, "unmonitored") == ["se.beta.example.org"]
    assert hosts_of(inv, "storage") == SRM_HOSTS
    hostvars = inv["_meta"]["hostvars"]
    assert (hostvars["se01.alpha.example.org"]["gocdb_first_type"], hostvars["se01.alpha.example.org"]["storage_path"]) == (
        "SRM", "/dpm/alpha.example.org/home")
    assert (hostvars["ce01.alpha.example.org"]["gocdb_first_type"], hostvars["ce01.alpha.example.org"]["storage_path"]) == (
        "ARC-CE", "none")


def test_playbook_targets_the_hosts_of_a_service_type(tmp_path, gocdb, run_playbook):
    src = source(tmp_path, gocdb, compose={"ansible_connection": "'local'",
                                           "ansible_python_interpreter": repr(ansible_runner.local_python())})
    pb = tmp_path / "service.yml"
    pb.write_text(json.dumps([{"hosts": "service_SRM", "gather_facts": False, "tasks": [
        {"name": "What GOCDB says", "ansible.builtin.debug": {
            "msg": "{{ gocdb_site }} {{ gocdb_service_types | join(',') }} {{ gocdb_extensions.NOTE | default('-') }}"}},
        {"name": "Own downtimes", "vapor.ops.gocdb_info": {
            "url": gocdb.url, "ca_path": str(gocdb.ca.ca_file), "use_proxy": False, "what": ["downtimes"],
            "hostnames": ["{{ inventory_hostname }}"]}},
    ]}], indent=1))
    res = run_playbook(pb, inventory=src)
    shown = {host: r["msg"] for host, r in res.task("What GOCDB says").items()}
    assert shown == {"se.beta.example.org": "VAPOR_BETA SRM -", "se.xbeta.example.org": "VAPORXBETA SRM -",
                     "se01.alpha.example.org": "VAPOR-ALPHA SRM,webdav {{ 7 * 6 }}"}   # never templated
    downtimes = {host: [d["id"] for d in r["downtimes"]] for host, r in res.task("Own downtimes").items()}
    assert downtimes == {"se.beta.example.org": [203], "se.xbeta.example.org": [], "se01.alpha.example.org": [201]}


@pytest.mark.compat   # controller-side code: the inventory plugin API of each ansible-core
def test_inventory_cache(tmp_path, gocdb):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile",
             "cache_connection": str(tmp_path / "cache"), "cache_timeout": 3600}
    src = source(tmp_path, gocdb, **cache)
    first = inventory(tmp_path, src)
    assert sorted(first["_meta"]["hostvars"]) == EGI_PRODUCTION_HOSTS
    asked = len(gocdb.requests)
    assert asked > 0 and any((tmp_path / "cache").iterdir())
    again = inventory(tmp_path, src)
    assert again == first and len(gocdb.requests) == asked      # from the cache, GOCDB not asked
    gocdb.stop()
    assert inventory(tmp_path, src) == first                    # GOCDB down: the cached hosts
    refused = "The connection to %s?method=get_service_endpoint&next_cursor=0 was refused (2 tries)." % gocdb.url
    # without the cache (what --flush-cache of ansible-core 2.19+ does; 2.18's ansible-inventory lacks the option)
    shutil.rmtree(tmp_path / "cache")
    assert squash(refused) in inventory(tmp_path, src, expect_failure=True)
    # another filter is another query: the cache of the first one is not used for it
    other = source(tmp_path, gocdb, monitored_only=True, **cache)
    assert squash("was refused (2 tries).") in inventory(tmp_path, other, expect_failure=True)


@pytest.mark.parametrize("behaviour, words", [
    ("malformed", "answered with malformed XML ("),
    ("error", "refused the query: Unsupported parameter: vapor."),
    ("text", "answered with an error instead of XML: Unable to find method: get_vapor."),
    ("html", "answered with an HTML page, not the XML of the programmatic interface; check that the URL is the "
             "interface's base, such as https://goc.egi.eu/gocdbpi/public/."),
    ("doctype", "answered with a document type declaration, which the programmatic interface never sends; "
                "the answer was not parsed."),
    ("loop", "sent a paging loop: the next page goes back to next_cursor=102, which was already read."),
    ("status", "answered HTTP 500 Internal Server Error after 2 tries."),
])
def test_bad_answers_end_in_one_sentence(tmp_path, gocdb, behaviour, words):
    gocdb.state.behaviour = behaviour
    if behaviour in ("malformed", "error"):
        gocdb.state.after = 1                 # the first page is good, the second is not
    err = inventory(tmp_path, source(tmp_path, gocdb), expect_failure=True)
    sentence = re.search(r"(?:GOCDBat)?%s\?method=get_service_endpoint&next_cursor=\d+[^\[]*?%s"
                         % (re.escape(gocdb.url), re.escape(squash(words))), err)
    assert sentence, err[-3000:]
    assert "Traceback" not in err


def test_old_gocdb_without_cursor_paging(tmp_path, gocdb):
    gocdb.state.behaviour = "old"
    inv = inventory(tmp_path, source(tmp_path, gocdb))
    assert sorted(inv["_meta"]["hostvars"]) == EGI_PRODUCTION_HOSTS
    assert ["next_cursor" in r.params for r in service_requests(gocdb)] == [True, False]


def test_private_interface_with_the_proxy_of_the_environment(tmp_path, gocdb, ca):
    src = source(tmp_path, gocdb, url=gocdb.private_url, sites=["VAPOR-ALPHA"])
    inv = inventory(tmp_path, src, env={"X509_USER_PROXY": str(ca.client_pem)})
    assert sorted(inv["_meta"]["hostvars"]) == ["ce01.alpha.example.org", "se01.alpha.example.org"]
    assert {r.client_dn for r in gocdb.requests} == {ca.client_dn}
    err = inventory(tmp_path, src, expect_failure=True)
    assert squash("%s?method=get_service_endpoint&next_cursor=0&sitename=VAPOR-ALPHA denied access (HTTP 403 Forbidden)."
                  % gocdb.private_url) in err


def test_example_source_is_not_in_the_demo_inventory():
    example = REPO / "inventories" / "gocdb.example.gocdb.yml"
    assert example.is_file()
    assert (REPO / "inventories" / "demo") not in example.parents
    text = example.read_text()
    assert "plugin: vapor.ops.gocdb" in text and "url: https://goc.egi.eu/gocdbpi/public/" in text


# -- the module gocdb_info ---------------------------------------------------------------------------------------


def info_playbook(tmp_path, server, tasks):
    """A localhost playbook of gocdb_info tasks (name -> arguments), each registered and allowed to fail."""
    common = {"url": server.url, "ca_path": str(server.ca.ca_file), "use_proxy": False, "retries": 0}
    path = tmp_path / "info.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": name, "vapor.ops.gocdb_info": dict(common, **args), "ignore_errors": True}
        for name, args in tasks.items()]}], indent=1))
    return path


INFO_TASKS = {
    "Endpoints of a site": {"sites": ["VAPOR-ALPHA"], "production_only": False},
    "Sites and downtimes": {"what": ["sites", "downtimes"], "sites": ["VAPOR-ALPHA", "VAPOR_BETA"]},
    "Sites of SRM": {"what": ["sites"], "service_types": ["srm"]},
    "Ongoing": {"what": ["downtimes"], "ongoing_only": True, "scope": []},
    "Other scope": {"what": ["downtimes", "endpoints"], "scope": ["Local"], "window_end": "today"},
    "Later": {"what": ["downtimes"], "scope": [], "hostnames": ["xrootd.beta.example.org", "cloud.gamma.example.org"]},
    "Details without identification": {"what": ["sites"], "sites": ["VAPOR-ALPHA"], "site_details": True},
}


@pytest.mark.compat
def test_gocdb_info_endpoints_sites_downtimes(tmp_path, gocdb, run_playbook, ca):
    tasks = dict(INFO_TASKS)
    tasks["Details through the private interface"] = {
        "what": ["sites"], "sites": ["VAPOR-ALPHA"], "site_details": True, "url": gocdb.private_url,
        "client_cert": str(ca.client_cert), "client_key": str(ca.client_key)}
    pb = info_playbook(tmp_path, gocdb, tasks)
    real = run_playbook(pb, inventory="local")

    eps = real.result("Endpoints of a site")
    assert eps["changed"] is False and "sites" not in eps and "downtimes" not in eps
    assert [(e["hostname"], e["service_type"], e["in_production"]) for e in eps["endpoints"]] == [
        ("ce01.alpha.example.org", "ARC-CE", True), ("ce02.alpha.example.org", "ARC-CE", False),
        ("se01.alpha.example.org", "SRM", True), ("se01.alpha.example.org", "webdav", True)]
    assert eps["endpoints"][2]["extensions"] == {"NOTE": "{{ 7 * 6 }}", "SE_PATH": "/dpm/alpha.example.org/home"}

    both = real.result("Sites and downtimes")
    assert [(s["name"], s["ngi"], s["country_code"]) for s in both["sites"]] == [
        ("VAPOR-ALPHA", "NGI_ALPHA", "AL"), ("VAPOR_BETA", "NGI_BETA", "BE")]
    dts = {d["id"]: d for d in both["downtimes"]}
    assert list(dts) == [201, 203, 202]          # by start; 204 ended ten days ago
    assert [(dts[i]["severity"], dts[i]["classification"], dts[i]["state"]) for i in (201, 203, 202)] == [
        ("OUTAGE", "SCHEDULED", "ongoing"), ("WARNING", "UNSCHEDULED", "ongoing"),
        ("WARNING", "SCHEDULED", "upcoming")]
    d201 = dts[201]
    assert d201["description"] == "Storage upgrade: DPM -> dCache & <new> disks"
    assert d201["hostnames"] == ["se01.alpha.example.org"] and d201["sites"] == ["VAPOR-ALPHA"]
    assert [(s["service_type"], [e["name"] for e in s["affected_endpoints"]]) for s in d201["services"]] == [
        ("SRM", ["srm"]), ("webdav", ["davs"])]
    assert d201["start"] == gocdb.now - 3600 and d201["end_iso"].endswith("Z") and d201["ongoing"] is True
    assert [r.params.get("sitelist") for r in gocdb.requests if r.method == "get_downtime_nested_services"][0] == \
        "VAPOR-ALPHA,VAPOR_BETA"

    assert [s["name"] for s in real.result("Sites of SRM")["sites"]] == ["VAPOR-ALPHA", "VAPOR_BETA", "VAPORXBETA"]
    assert [d["id"] for d in real.result("Ongoing")["downtimes"]] == [201, 203]
    other = real.result("Other scope")
    # 203 is on se.beta (scopes EGI and Local); 205 (Local) starts after today
    assert [d["id"] for d in other["downtimes"]] == [203]
    assert [e["hostname"] for e in other["endpoints"]] == ["cloud.gamma.example.org", "se.beta.example.org",
                                                           "xrootd.beta.example.org"]
    later = real.result("Later")["downtimes"]
    assert [(d["id"], d["hostnames"], d["sites"], d["state"]) for d in later] == [
        (205, ["cloud.gamma.example.org", "xrootd.beta.example.org"], ["VAPOR-GAMMA", "VAPOR_BETA"], "upcoming")]

    refused = real.result("Details without identification")
    assert refused["_status"] == "failed" and refused["msg"] == (
        "GOCDB at %s?method=get_site&next_cursor=0&sitename=VAPOR-ALPHA answered with an error instead of XML: No "
        "valid identifier found; Try accessing the resource through the private interface." % gocdb.url)
    detailed = real.result("Details through the private interface")["sites"]
    assert [(s["name"], s["tier"], s["certification_status"], s["scopes"], s["extensions"], s["contact_email"])
            for s in detailed] == [("VAPOR-ALPHA", "2", "Certified", ["EGI"], {"site_vo": "dteam"},
                                    "grid@alpha.example.org")]
    assert {r.client_dn for r in gocdb.requests if r.path == "/gocdbpi/private/"} == {ca.client_dn}

    check = run_playbook(pb, inventory="local", check=True)
    for name in tasks:
        mine, theirs = real.result(name), check.result(name)
        for key in ("endpoints", "sites", "downtimes", "msg", "_status", "changed", "requests"):
            assert mine.get(key) == theirs.get(key), (name, key)


@pytest.mark.compat
def test_gocdb_info_errors_fail_the_task_in_one_sentence(tmp_path, gocdb, run_playbook):
    pb = info_playbook(tmp_path, gocdb, {"Downtimes": {"what": ["downtimes"]},
                                         "Bad window": {"what": ["downtimes"], "window_start": "yesterday"}})
    # one downtime a page: the second page's next link goes back to the first page's
    gocdb.state.behaviour, gocdb.state.page_size = "loop", 1
    res = run_playbook(pb, inventory="local")
    assert re.fullmatch(r"GOCDB at %s\?method=get_downtime_nested_services&next_cursor=201&windowstart=\d{4}-\d\d-\d\d "
                        r"sent a paging loop: the next page goes back to next_cursor=201, which was already read\."
                        % re.escape(gocdb.url), res.result("Downtimes")["msg"]), res.result("Downtimes")["msg"]
    assert res.result("Bad window")["msg"] == "The window_start 'yesterday' is not a date written YYYY-MM-DD or 'today'."
