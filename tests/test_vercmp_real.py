# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The version comparison of _pakiti/vercmp.py against the real tools.

Every case of the unit tests' tables (collections/.../tests/unit/plugins/module_utils/test_vercmp.py) is asked of
the tools themselves:
  - rpm: ``rpm --eval '%{lua: ...}'`` with rpm.vercmp (rpm's own comparison, rpm >= 4.16 parses [E:]V[-R]), all the
    comparisons of a test in one call;
  - rpm, a version without a release: rpm's dependency resolution (``rpm -i --test`` of packages built with
    rpmbuild that require the installed probe package with <, = and >), which is where rpm ignores a missing
    release;
  - dpkg: ``dpkg --compare-versions a lt|eq|gt b`` in one shell loop per test; the versions taken here as valid must
    not make dpkg warn, and those refused here must make dpkg complain.
Then hypothesis draws random versions and compares the same way (a bounded number of batches).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.vapor.ops.plugins.module_utils._pakiti import vercmp
from ansible_collections.vapor.ops.tests.unit.plugins.module_utils.test_vercmp import (
    DPKG_CASES, DPKG_INVALID, RPM_CASES, RPM_EVR_CASES, RPM_EVR_NO_RELEASE_CASES, RPM_PROBE)

RPM = shutil.which("rpm")
RPMBUILD = shutil.which("rpmbuild")
DPKG = shutil.which("dpkg")
need_rpm = pytest.mark.skipif(RPM is None, reason="rpm is not installed")
need_dpkg = pytest.mark.skipif(DPKG is None, reason="dpkg is not installed")

DPKG_LOOP = r"""
while read -r a b; do
  if dpkg --compare-versions "$a" lt "$b"; then echo -1
  elif dpkg --compare-versions "$a" eq "$b"; then echo 0
  elif dpkg --compare-versions "$a" gt "$b"; then echo 1
  else echo error; fi
done < "$1"
"""


def rpm_real(pairs):
    """rpm.vercmp(a, b) for each pair, in one `rpm --eval` (the Lua script is read from a file, so no macro
    expansion touches the versions)."""
    with tempfile.TemporaryDirectory(prefix="vapor-vercmp-") as tmp:
        script = os.path.join(tmp, "cmp.lua")
        lines = ["local r = {}"]
        for a, b in pairs:
            assert "]==]" not in a + b
            lines.append("r[#r + 1] = rpm.vercmp([==[%s]==], [==[%s]==])" % (a, b))
        lines.append('print(table.concat(r, " "))')
        with open(script, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        proc = subprocess.run([RPM, "--eval", '%%{lua: dofile("%s")}' % script], capture_output=True, text=True,
                              check=True, timeout=120)
    out = [int(x) for x in proc.stdout.split()]
    assert len(out) == len(pairs), proc.stdout + proc.stderr
    return out


def dpkg_real(pairs):
    """(result of dpkg --compare-versions for each pair as -1/0/1, dpkg's stderr), one shell loop for all."""
    with tempfile.TemporaryDirectory(prefix="vapor-vercmp-") as tmp:
        listing = os.path.join(tmp, "pairs")
        with open(listing, "w", encoding="utf-8") as f:
            for a, b in pairs:
                assert not re.search(r"\s", a + b)
                f.write("%s %s\n" % (a, b))
        proc = subprocess.run(["sh", "-c", DPKG_LOOP, "sh", listing], capture_output=True, text=True, check=True,
                              timeout=300)
    out = proc.stdout.split()
    assert len(out) == len(pairs), proc.stdout + proc.stderr
    return [int(x) if x != "error" else x for x in out], proc.stderr


@need_rpm
def test_rpm_lua_vercmp_works():
    assert rpm_real([("1.0", "2.0"), ("2.0", "2.0"), ("1.0~rc1", "1.0"), ("1.0^1", "1.0")]) == [-1, 0, -1, 1]


@need_rpm
def test_rpm_cases_are_what_rpm_says():
    pairs = [(a, b) for a, b, _ in RPM_CASES] + [(b, a) for a, b, _ in RPM_CASES]
    real = rpm_real(pairs)
    expected = [e for _, _, e in RPM_CASES] + [-e for _, _, e in RPM_CASES]
    wrong = [(p, r, e) for p, r, e in zip(pairs, real, expected) if r != e]
    assert not wrong, "the table disagrees with rpm: %s" % wrong
    mine = [vercmp.rpm_vercmp(a, b) for a, b in pairs]
    assert mine == real


@need_rpm
def test_rpm_evr_cases_are_what_rpm_says():
    cases = RPM_EVR_CASES + [("1:%s-1" % a, "1:%s-1" % b, e) for a, b, e in RPM_CASES]
    pairs = [(a, b) for a, b, _ in cases]
    real = rpm_real(pairs)
    wrong = [(p, r, e) for p, r, (_, _, e) in zip(pairs, real, cases) if r != e]
    assert not wrong, "the table disagrees with rpm: %s" % wrong
    assert [vercmp.rpm_evr_compare(a, b) for a, b in pairs] == real


@pytest.mark.skipif(RPM is None or RPMBUILD is None, reason="rpm and rpmbuild are not installed")
def test_a_version_without_release_compares_as_rpm_dependencies_resolve(tmp_path):
    """rpm ignores the release when one side has none: a package requiring `probe = 2.3.1` is satisfied by
    probe 2.3.1-4.el9. Built packages require the installed probe with <, = and > each case's version; the one
    operator rpm finds satisfied gives rpm's comparison."""
    name, version, release = RPM_PROBE
    ops = {"lt": ("<", -1), "eq": ("=", 0), "gt": (">", 1)}
    spec = ["Name: %s" % name, "Version: %s" % version, "Release: %s" % release, "Summary: probe",
            "License: GPL-3.0-or-later", "BuildArch: noarch", "%description", "probe", "%files", ""]
    for i, (_, required, _) in enumerate(RPM_EVR_NO_RELEASE_CASES):
        for op, (sign, _) in ops.items():
            sub = "vapor-need-%d-%s" % (i, op)
            spec += ["%%package -n %s" % sub, "Summary: need", "Requires: %s %s %s" % (name, sign, required),
                     "%%description -n %s" % sub, "need", "%%files -n %s" % sub, ""]
    top = tmp_path / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    (top / "SPECS" / "probe.spec").write_text("\n".join(spec))
    subprocess.run([RPMBUILD, "--quiet", "--define", "_topdir %s" % top, "-bb", str(top / "SPECS" / "probe.spec")],
                   check=True, capture_output=True, timeout=300)
    rpms = sorted((top / "RPMS" / "noarch").glob("*.rpm"))
    probe = [str(p) for p in rpms if p.name.startswith(name + "-")]
    needs = [str(p) for p in rpms if p.name.startswith("vapor-need-")]
    assert len(probe) == 1 and len(needs) == 3 * len(RPM_EVR_NO_RELEASE_CASES)
    root = tmp_path / "root"
    root.mkdir()
    base = [RPM, "--root", str(root), "--dbpath", "/rpmdb"]
    subprocess.run(base + ["--initdb"], check=True, capture_output=True, timeout=60)
    subprocess.run(base + ["-i", "--justdb", "--nodeps", "--noscripts"] + probe, check=True, capture_output=True,
                   timeout=60)
    installed = subprocess.run(base + ["-q", name, "--qf", "%{VERSION}-%{RELEASE}"], check=True, capture_output=True,
                               text=True, timeout=60).stdout
    assert installed == "%s-%s" % (version, release)
    test = subprocess.run(base + ["-i", "--test", "--justdb"] + needs, capture_output=True, text=True, timeout=60)
    unmet = set(re.findall(r"is needed by (vapor-need-\d+-[a-z]+)-", test.stderr))
    assert unmet, test.stderr
    for i, (have, required, expected) in enumerate(RPM_EVR_NO_RELEASE_CASES):
        met = [s for op, (_, s) in ops.items() if "vapor-need-%d-%s" % (i, op) not in unmet]
        assert met == [expected], "rpm finds %s-%s satisfies %s with %s" % (version, release, required, met)
        assert have == "%s-%s" % (version, release)
        assert vercmp.rpm_evr_compare(have, required) == expected


@need_dpkg
def test_dpkg_cases_are_what_dpkg_says():
    pairs = [(a, b) for a, b, _ in DPKG_CASES] + [(b, a) for a, b, _ in DPKG_CASES]
    real, stderr = dpkg_real(pairs)
    assert stderr == "", "dpkg complains about a version taken as valid here: " + stderr
    expected = [e for _, _, e in DPKG_CASES] + [-e for _, _, e in DPKG_CASES]
    wrong = [(p, r, e) for p, r, e in zip(pairs, real, expected) if r != e]
    assert not wrong, "the table disagrees with dpkg: %s" % wrong
    assert [vercmp.dpkg_compare(a, b) for a, b in pairs] == real


@need_dpkg
@pytest.mark.parametrize("bad", DPKG_INVALID)
def test_dpkg_complains_about_what_is_refused_here(bad):
    proc = subprocess.run([DPKG, "--compare-versions", bad, "eq", "1.0"], capture_output=True, text=True, timeout=60)
    assert "has bad syntax" in proc.stderr, (bad, proc.returncode, proc.stderr)
    assert vercmp.version_problem("dpkg", bad)


# -- random versions ---------------------------------------------------------------------------------------------

RPM_PART = st.text(alphabet="0019aAzZ._+~^", min_size=1, max_size=8)
RPM_SUFFIXES = ["", "~", "^", ".", "0", "1", "a", ".0", "~1", "^1", "+"]
DPKG_SUFFIXES = ["", "~", ".", "0", "1", "a", ".0", "~1", "+", "+b1", "-1"]


def near(part, suffixes):
    """Pairs of random strings, and of a string and itself with a little added (where the edge cases are)."""
    return st.one_of(st.tuples(part, part),
                     st.tuples(part, st.sampled_from(suffixes)).map(lambda t: (t[0], t[0] + t[1])),
                     st.tuples(part, st.sampled_from(suffixes)).map(lambda t: (t[0] + t[1], t[0])))


@st.composite
def rpm_evrs(draw):
    epoch = draw(st.one_of(st.none(), st.integers(0, 3)))
    return "%s%s-%s" % ("" if epoch is None else "%d:" % epoch, draw(RPM_PART), draw(RPM_PART))


@st.composite
def dpkg_versions(draw):
    epoch = draw(st.one_of(st.none(), st.integers(0, 3)))
    revision = draw(st.one_of(st.none(), st.text(alphabet="019aAzZ.+~", min_size=1, max_size=5)))
    chars = "0019aAzZ.+~" + ("-" if revision is not None else "") + (":" if epoch is not None else "")
    upstream = draw(st.sampled_from("0129")) + draw(st.text(alphabet=chars, max_size=7))
    return "%s%s%s" % ("" if epoch is None else "%d:" % epoch, upstream, "" if revision is None else "-" + revision)


@need_rpm
@settings(max_examples=10, deadline=None)
@given(pairs=st.lists(near(RPM_PART, RPM_SUFFIXES), min_size=50, max_size=50))
def test_random_rpm_versions_compare_as_rpm_does(pairs):
    assert [vercmp.rpm_vercmp(a, b) for a, b in pairs] == rpm_real(pairs)


@need_rpm
@settings(max_examples=10, deadline=None)
@given(pairs=st.lists(st.tuples(rpm_evrs(), rpm_evrs()), min_size=50, max_size=50))
def test_random_rpm_evrs_compare_as_rpm_does(pairs):
    assert [vercmp.rpm_evr_compare(a, b) for a, b in pairs] == rpm_real(pairs)


@need_dpkg
@settings(max_examples=8, deadline=None)
@given(pairs=st.lists(near(dpkg_versions(), DPKG_SUFFIXES), min_size=40, max_size=40))
def test_random_dpkg_versions_compare_as_dpkg_does(pairs):
    real, stderr = dpkg_real(pairs)
    assert stderr == "", stderr
    assert [vercmp.dpkg_compare(a, b) for a, b in pairs] == real
