"""More of the hostile catalogue of the cleanups (issue 8 §4): SFN forms the property test does not generate,
storage that can be fooled, races, lists and journals."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from test_hostile_cleanup import OLD, ORPHAN, SE, SRM, TOP, Site, changed_files, fails, site  # noqa: F401
from ansible_collections.vapor.ops.plugins.module_utils import _catalog as cat
from ansible_collections.vapor.ops.plugins.module_utils import _dark_cleanup as dc
from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError

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
        r = cat.run_catalog_cleanup(params)
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
