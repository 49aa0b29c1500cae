# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property (issue 8 §1.1): whatever the spelling of a replica's SFN, the dump path catalog_dump writes for it is
found by the cleanups' just-before-delete catalog re-check, and dark_data_cleanup keeps the file.

Hypothesis generates SFN forms of one storage path — srm ?SFN= and plain, root:// and xroot:// with their double
slash, davs/https/gsiftp, DPM's host:/path; host in any case; the default port given or left out; repeated
slashes, '.' and 'x/..' components, trailing '/', '/.' or '/q/..' — and registers each as a replica in a REAL
catalog (MariaDB through the harness server, and the embedded SQLite one), next to a replica in the usual form so
the usual SFN heads exist. For each: catalog_dump (run_catalog_dump) writes the canonical dump path, the run's
re-check (Catalog.find_replicas with a ReplicaIndex) finds the replica under that path, and run_dark_cleanup on a
file:// storage holding the file keeps it ('in_catalog'), the file untouched.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seed
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import dump as cat_dump
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

OLD = int(time.time()) - 60 * 86400
SE = "se.demo.example"
TOP = "/vo"
SRM = f"srm://{SE}:8446/srm/managerv2?SFN="
_counter = itertools.count()

HOSTS = st.sampled_from([SE, SE.upper(), "Se.Demo.Example", "se.DEMO.example"])
SEPARATORS = st.sampled_from(["/", "/", "//", "/./", "/x/../", "/y/z/../../", "///./"])
TRAILERS = st.sampled_from(["", "/", "/.", "/q/..", "//"])
COMPONENT = st.sampled_from(["store", "mc", "run1", "data", "a b", "ünï", "f_1%"])


@st.composite
def sfn_forms(draw, schemes=("srm_sfn", "srm_plain", "root", "xroot", "davs", "https", "gsiftp", "dpm")):
    """(sfn, storage path it must map to) for a fresh file name."""
    comps = draw(st.lists(COMPONENT, min_size=0, max_size=3)) + ["f%d.root" % next(_counter)]
    canonical = TOP + "/" + "/".join(comps)
    spelled = ""
    for c in ["vo"] + comps:
        spelled += draw(SEPARATORS) + c
    spelled += draw(TRAILERS)
    scheme = draw(st.sampled_from(schemes))
    host = draw(HOSTS)
    default = {"srm_sfn": 8446, "srm_plain": 8446, "root": 1094, "xroot": 1094, "davs": 443, "https": 443,
               "gsiftp": 2811}.get(scheme)
    port = draw(st.sampled_from(["", ":%d" % default])) if default else ""
    if scheme == "srm_sfn":
        sfn = f"srm://{host}{port}/srm/managerv2?SFN={spelled}"
    elif scheme == "srm_plain":
        sfn = f"srm://{host}{port}{spelled}"
    elif scheme in ("root", "xroot"):
        sfn = f"{scheme}://{host}{port}/{spelled}"          # the double slash of root URLs
    elif scheme == "dpm":
        sfn = f"{host}:{spelled}"
    else:
        sfn = f"{scheme}://{host}{port}{spelled}"
    return sfn, canonical


@pytest.fixture(params=["sqlite", "mysql"])
def world(request, tmp_path):
    if request.param == "sqlite":
        path = str(tmp_path / "catalog.db")
        cat_schema.create_sqlite_catalog(path)
        spec = {"backend": "sqlite", "path": path}
    else:
        mariadb = request.getfixturevalue("mariadb")
        dbname = request.getfixturevalue("cns_db")
        seed.seed_dpm(mariadb, dbname, [])
        spec = {"backend": "mysql", "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
                "password": mariadb.password, "database": dbname}
    storage = tmp_path / "storage"
    (storage / "anchor").mkdir(parents=True)
    (storage / "anchor" / "good.root").write_text("good")
    with cat_access.open_catalog(spec) as c:              # the usual form: the heads a real SE has
        c.register_file("/grid/anchor/good.root", 1, OLD, None, [(SE, SRM + TOP + "/anchor/good.root", "-")])
    dest = tmp_path / "dumps"
    dest.mkdir()
    return {"spec": spec, "storage": storage, "dest": dest, "tmp": tmp_path}


def _register(spec, sfn):
    lfn = "/grid/p/%d" % next(_counter)
    with cat_access.open_catalog(spec) as c:
        fileid = c.register_file(lfn, 1, OLD, None, [(SE, sfn, "-")])[0]
        return [r for r in c.replicas(fileid) if r.sfn == sfn][0]


def _check_one(world, sfn, canonical, selection):
    spec, storage = world["spec"], world["storage"]
    rep = _register(spec, sfn)
    dump_path = canonical[len(TOP):]
    mapping = cat_sfn.SfnMapping(strip_prefix=TOP, **selection)
    assert mapping.dump_path(sfn) == (dump_path, None), sfn

    # what catalog_dump writes (when its selection lists the replica at all)
    r = cat_dump.run_catalog_dump(dict(selection, catalog=spec, strip_prefix=TOP, dest=str(world["dest"]),
                                  name="d_%s" % next(_counter)))
    dumped = set(e.path for e in read_dump(r["dump"]))
    if selection.get("se"):
        assert dump_path in dumped, (sfn, sorted(dumped)[:5])
    for p in dumped:
        assert ".." not in p.split("/")

    # the re-check finds it under that path, whatever the spelling
    with cat_access.open_catalog(spec) as c:
        index = cat_sfn.ReplicaIndex(mapping).build(c)
        found, _doubtful = c.find_replicas(dump_path, mapping, index)
    assert rep.rowid in [x.rowid for x in found], sfn

    # and dark_data_cleanup keeps the file
    f = storage / dump_path.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("keep me")
    os.utime(f, (OLD, OLD))
    lst = world["tmp"] / ("dark_%d.list" % next(_counter))
    lst.write_text(dump_path + "\n")
    res = dc.run_dark_cleanup(dict(selection, dark=str(lst), catalog=spec, strip_prefix=TOP, concurrency=1,
                                   storage_url="file://" + str(storage), min_age=0))
    assert res["deleted"] == [] and [k["reason"] for k in res["kept"]] == ["in_catalog"], (sfn, res["kept"])
    assert f.read_text() == "keep me"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(form=sfn_forms())
def test_every_sfn_form_is_found_by_the_recheck_se(world, form):
    _check_one(world, form[0], form[1], {"se": SE})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(form=sfn_forms(schemes=("srm_sfn", "srm_plain")))
def test_every_sfn_form_is_found_by_the_recheck_sfn_prefix(world, form):
    """Selected by an SFN prefix in the usual form: other host case, port or srm form must not escape the re-check."""
    _check_one(world, form[0], form[1], {"sfn_prefix": SRM + "/vo/"})
