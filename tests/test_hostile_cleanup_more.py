# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""More of the hostile catalogue of the cleanups (issue 8 §4): SFN forms the property test does not generate,
storage that can be fooled, races, lists and journals."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from test_hostile_cleanup import OLD, ORPHAN, SE, SRM, TOP, Site, changed_files, fails, site  # noqa: F401
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

NAME = ORPHAN.rsplit("/", 1)[1]


def _kept_by_catalog(sfn, host=SE, selection=None, path=ORPHAN, on_storage=None):
    def case(s):
        s.put(on_storage or path)
        s.register(path, sfn=sfn, host=host)
        params = s.dark_params([on_storage or path], **(selection or {}))
        before = s.snapshot()
        r = dc.run_dark_cleanup(params)
        assert r["deleted"] == [] and [k["reason"] for k in r["kept"]] == ["in_catalog"], r
        assert s.snapshot() == before
    return case


PROBE_SFNS = {
    "srm_lower_sfn_key": f"srm://{SE}:8446/srm/managerv2?sfn=/vo" + ORPHAN,
    "srm_param_before_sfn": f"srm://{SE}:8446/srm/managerv2?x=1&SFN=/vo" + ORPHAN,
    "srm_managerv1": f"srm://{SE}:8446/srm/managerv1?SFN=/vo" + ORPHAN,
    "srm_upper_scheme": f"SRM://{SE}:8446/srm/managerv2?SFN=/vo" + ORPHAN,
    "root_single_slash": f"root://{SE}:1094/vo" + ORPHAN,
    "root_userinfo": f"root://user@{SE}:1094//vo" + ORPHAN,
    "xroot_upper": f"XROOT://{SE.upper()}//vo" + ORPHAN,
    "davs_percent_space": f"davs://{SE}/vo/store/mc/run1/orphan%5F0001.root",
    "davs_percent_slash": f"davs://{SE}/vo/store%2Fmc/run1/orphan_0001.root",
    "trailing_space": SRM + "/vo" + ORPHAN + " ",
    "trailing_newline": SRM + "/vo" + ORPHAN + "\n",
    "nfd_name": SRM + "/vo/store/mc/run1/orphan_0001.root",
    "sfn_semicolon_param": f"root://{SE}//vo" + ORPHAN + ";v=1",
    "srm_sfn_then_param": SRM + "/vo" + ORPHAN + "&x=1",
    "very_long": SRM + "/vo" + "/d" * 200 + "/../.." * 200 + ORPHAN,
    "ipv6_host": f"srm://[::1]:8446/srm/managerv2?SFN=/vo" + ORPHAN,
}

CASES = {name: _kept_by_catalog(sfn) for name, sfn in PROBE_SFNS.items() if name != "ipv6_host"}
CASES["ipv6_host"] = _kept_by_catalog(PROBE_SFNS["ipv6_host"], host="::1", selection={"se": "::1"})
NFC = "/store/mc/run1/caf\u00e9.root"
NFD = "/store/mc/run1/cafe\u0301.root"
CASES["nfd_catalog_nfc_storage"] = _kept_by_catalog(SRM + "/vo" + NFD, path=NFD, on_storage=NFC)
CASES["nfc_catalog_nfd_storage"] = _kept_by_catalog(SRM + "/vo" + NFC, path=NFC, on_storage=NFD)


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe(name, site):
    CASES[name](site)


# ------------------------------------------------------------------------------------------------
# catalog_cleanup: an SFN in an odd form names a file that is there under its decoded name

def _cc_odd_case(sfn, literal, on_storage):
    def case(s):
        s.put(on_storage)
        s.register(literal, sfn=sfn)
        params = s.lost_params([literal])               # what consistency_check lists: the literal path
        before = s.snapshot()
        r = cat_cleanup.run_catalog_cleanup(params)
        assert r["removed"] == [] and [k["reason"] for k in r["kept"]] == ["on_storage"], r
        assert s.snapshot() == before
    return case


CC_CASES = {
    "cc_percent_escape": _cc_odd_case(SRM + "/vo/store/mc/run1/my%20file.root", "/store/mc/run1/my%20file.root",
                                      "/store/mc/run1/my file.root"),
    "cc_nfd_catalog": _cc_odd_case(SRM + "/vo" + NFD, NFD, NFC),
    "cc_trailing_blank": _cc_odd_case(SRM + "/vo" + ORPHAN + " ", ORPHAN + " ", ORPHAN),
}


@pytest.mark.parametrize("name", sorted(CC_CASES))
def test_cc_odd(name, site):
    CC_CASES[name](site)


# ------------------------------------------------------------------------------------------------
# catalog_cleanup: a storage that can be fooled (an area whose every catalogued file is on the list)

def case_cc_whole_area_unmounted(s):
    """/store/b is an unmounted area (an empty directory): every file the catalog holds there is on the list,
    while files elsewhere show. Its entries stay (reason 'unproven'); the lone lost file elsewhere is removed."""
    for i in range(2):
        s.register(f"/store/b/f{i}.root")
    (s.root / "store" / "b").mkdir(parents=True)
    s.register("/store/mc/run1/lost.root")
    before = s.snapshot()
    r = cat_cleanup.run_catalog_cleanup(s.lost_params(["/store/mc/run1/lost.root", "/store/b/f0.root", "/store/b/f1.root"]))
    assert [x["lfn"] for x in r["removed"]] == ["/grid/store/mc/run1/lost.root"]
    assert sorted((k["path"], k["reason"]) for k in r["kept"]) == [("/store/b/f0.root", "unproven"),
                                                                   ("/store/b/f1.root", "unproven")]
    assert "every file the catalog holds under 'file://" in r["kept"][0]["detail"]
    after = s.snapshot()
    assert after["replicas"] == [x for x in before["replicas"] if "lost.root" not in x[0]]


def case_cc_sub_area_unmounted_next_to_siblings(s):
    """The siblings of the parent show, the listed files' subdirectory is an unmounted area."""
    s.register("/store/data/sibling.root")
    s.put("/store/data/sibling.root")
    for i in range(3):
        s.register(f"/store/data/sub/f{i}.root")
    (s.root / "store" / "data" / "sub").mkdir(parents=True)
    before = s.snapshot()
    r = cat_cleanup.run_catalog_cleanup(s.lost_params([f"/store/data/sub/f{i}.root" for i in range(3)]))
    assert r["removed"] == [] and [k["reason"] for k in r["kept"]] == ["unproven"] * 3
    assert s.snapshot() == before


def case_cc_lone_files_in_own_directories(s):
    """Rucio's layout: one file a leaf directory, each lost; its parent proves the storage sees; they go."""
    lost = [f"/store/rucio/ab/c{i}/f{i}.root" for i in range(3)]
    for p in lost:
        s.register(p)
    s.register("/store/rucio/ab/cz/kept.root")
    s.put("/store/rucio/ab/cz/kept.root")
    r = cat_cleanup.run_catalog_cleanup(s.lost_params(lost))
    assert sorted(x["lfn"] for x in r["removed"]) == ["/grid" + p for p in lost] and r["kept"] == []


def case_dark_list_with_nul(s):
    s.put(ORPHAN)
    params = s.dark_params([ORPHAN])
    Path(params["dark"]).write_bytes((ORPHAN + "\x00junk\n").encode())
    before = s.snapshot()
    fails(dc.run_dark_cleanup, params, r"^The dark list '.*' holds a path with a NUL character \(entry 1\), which "
                                       r"names no file; nothing was deleted\.$")
    assert s.snapshot() == before


def case_cc_list_with_nul(s):
    lost = "/store/mc/run1/lost.root"
    s.register(lost)
    params = s.lost_params([lost])
    Path(params["lost"]).write_bytes((lost + "\x00\n").encode())
    before = s.snapshot()
    fails(cat_cleanup.run_catalog_cleanup, params, r"^The lost list '.*' holds a path with a NUL character \(entry 1\)")
    assert s.snapshot() == before



def case_cc_whole_area_trusted_when_asked(s):
    """The admin checked the area is really lost (a disk that died): trust_lost_areas removes its entries."""
    for i in range(2):
        s.register(f"/store/b/f{i}.root")
    (s.root / "store" / "b").mkdir(parents=True)
    r = cat_cleanup.run_catalog_cleanup(s.lost_params(["/store/b/f0.root", "/store/b/f1.root"], trust_lost_areas=True))
    assert sorted(x["lfn"] for x in r["removed"]) == ["/grid/store/b/f0.root", "/grid/store/b/f1.root"]


def case_cc_whole_area_with_one_file_back(s):
    """Every catalogued file of the area is listed, but one of them shows: the area is seen, the others go."""
    for i in range(3):
        s.register(f"/store/b/f{i}.root")
    s.put("/store/b/f2.root")
    r = cat_cleanup.run_catalog_cleanup(s.lost_params([f"/store/b/f{i}.root" for i in range(3)]))
    assert sorted(x["lfn"] for x in r["removed"]) == ["/grid/store/b/f0.root", "/grid/store/b/f1.root"]
    assert [(k["path"], k["reason"]) for k in r["kept"]] == [("/store/b/f2.root", "on_storage")]


MORE = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(MORE))
def test_more(name, site):
    MORE[name](site)


# ------------------------------------------------------------------------------------------------
# root:// to an endpoint that does not answer: bounded by the module's timeout, not the XRootD client's defaults

DEAD_RUN = r"""
import json, os, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
params = json.loads(sys.argv[1])
try:
    dc.run_dark_cleanup(params)
    print('OK')
except Exception as exc:
    print('ERROR ' + getattr(exc, 'msg', repr(exc)))
print('ENV ' + json.dumps(dict((k, v) for k, v in os.environ.items() if k.startswith('XRD_'))))
"""


@pytest.mark.parametrize("endpoint", ["closed_port", "mute_listener"])
def test_dark_root_endpoint_that_does_not_answer(site, endpoint):
    """A root:// storage URL whose port is closed, or whose server accepts and never answers: the run fails in one
    sentence within the module's timeout (the XRootD client's own defaults waited about 8 minutes) and the
    XRootD client was told that timeout."""
    pytest.importorskip("gfal2")
    import json
    import socket
    import subprocess
    import sys
    from test_hostile_cleanup import COLLECTIONS
    s = site
    s.put(ORPHAN)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if endpoint == "closed_port":
        sock.close()
    else:
        sock.listen(8)                       # the kernel accepts the connection; nobody ever answers
    try:
        params = s.dark_params([ORPHAN], storage_url=f"root://127.0.0.1:{port}//vo", timeout=3, retries=0)
        before = s.snapshot()
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("XRD_"))
        proc = subprocess.run([sys.executable, "-c", DEAD_RUN % {"collections": COLLECTIONS}, json.dumps(params)],
                              capture_output=True, text=True, timeout=120, env=env)
    finally:
        sock.close()
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"ERROR The storage URL 'root://127.0.0.1:{port}//vo' cannot be checked ("), proc
    assert out[0].endswith("so no file could be looked at; nothing was deleted."), out
    xrd = json.loads(out[1][len("ENV "):])
    assert xrd["XRD_CONNECTIONWINDOW"] == "3" and xrd["XRD_REQUESTTIMEOUT"] == "3", xrd
    assert s.snapshot() == before


def test_xrootd_environment_keeps_what_the_site_set():
    from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import xrootd_environment
    env = {"XRD_CONNECTIONWINDOW": "30"}
    assert xrootd_environment(7, env) == ["XRD_CONNECTIONRETRY", "XRD_REQUESTTIMEOUT", "XRD_STREAMTIMEOUT",
                                          "XRD_TIMEOUTRESOLUTION"]
    assert env["XRD_CONNECTIONWINDOW"] == "30" and env["XRD_REQUESTTIMEOUT"] == "7"


def test_se_dump_xrootd_closed_port(tmp_path):
    """se_dump of a root:// server whose port is closed: one sentence naming the root and the connection error,
    nothing published (the XRootD client's defaults said 'Operation expired' after its 15 s timeout resolution)."""
    pytest.importorskip("XRootD")
    import socket
    from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump as sd
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    dest = tmp_path / "dumps"
    dest.mkdir()
    with pytest.raises(VaporError) as err:
        sd.run({"source": "xrootd", "url": f"root://127.0.0.1:{port}", "roots": ["/vo"], "dest": str(dest),
                "timeout": 5, "retries": 0})
    assert err.value.msg.startswith(f"The XRootD root '/vo' on root://127.0.0.1:{port} cannot be read: ")
    # the connection error comes first on a quiet machine; on a loaded one the request's own 5 s timeout may win
    # the race ("Operation expired"): either way one sentence naming the root, and nothing published
    assert "Connection" in err.value.msg or "Operation expired" in err.value.msg, err.value.msg
    assert os.listdir(dest) == []


def test_dark_symlink_race(site):
    """A thread swaps the listed files' directory for a link to a copy outside the storage, in a loop, while runs
    delete: nothing outside is ever touched (every directory is opened without following links)."""
    s = site
    outside = s.outside / "dark"
    outside.mkdir()
    paths = []
    for i in range(20):
        (outside / f"f{i}.root").write_text("precious")
        os.utime(outside / f"f{i}.root", (OLD, OLD))
        paths.append(s.put(f"/store/dark/f{i}.root") and f"/store/dark/f{i}.root")
    d, real = s.root / "store" / "dark", s.root / "store" / "dark_real"
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            try:
                os.rename(d, real)
                os.symlink(outside, d)
                os.unlink(d)
                os.rename(real, d)
            except OSError:
                pass

    t = threading.Thread(target=flip)
    t.start()
    try:
        for k in range(5):
            try:
                dc.run_dark_cleanup(s.dark_params(paths, journal=str(s.run / f"j{k}")))
            except VaporError:
                pass
    finally:
        stop.set()
        t.join()
    assert sorted(os.listdir(outside)) == sorted(f"f{i}.root" for i in range(20))
    assert all((outside / f"f{i}.root").read_text() == "precious" for i in range(20))
