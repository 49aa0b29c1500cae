# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The versions the collection states are the versions `make test` runs.

What runs comes from scripts/matrix.py (the controllers: one venv per ansible-core release line, from its
requirements file; the target Pythons: the collection's python_requires up to the newest one ansible-test supports)
and from the Makefile itself (`make -n test`). What is stated: meta/runtime.yml requires_ansible, the README's
Controller/Targets paragraph and the collection's docs/docsite/rst/guide_versions.rst.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess

import pytest
import yaml

import matrix

REPO = matrix.REPO
COLLECTION = matrix.COLLECTION
GUIDE = os.path.join(COLLECTION, "docs", "docsite", "rst", "guide_versions.rst")


def _v(text):
    return tuple(int(x) for x in text.split("."))


def _read(path):
    with open(path) as fh:
        return fh.read()


def _and(items):
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


@pytest.fixture(scope="module")
def make_test_commands():
    """The pytest and sanity commands of `make -n test`, as argv lists."""
    proc = subprocess.run(["make", "-n", "-s", "test"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # only the one-line commands: the venv steps' multi-line shell snippets are not the matrix
    return [shlex.split(line) for line in proc.stdout.splitlines()
            if re.search(r"-m pytest |run-sanity\.sh", line)]


def _pytest_runs(commands):
    """{release line: (VAPOR_ANSIBLE_BIN or None, marker or None)} of the integration runs of `make test`."""
    runs = {}
    for argv in commands:
        env = {}
        while argv and re.match(r"^[A-Z_]+=", argv[0]):
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
        if argv[1:3] != ["-m", "pytest"] or argv[-1] != "tests":
            continue
        assert "VAPOR_ANSIBLE_EXPECT" in env, "an integration run of make test names no ansible-core: %s" % argv
        marker = argv[argv.index("-m", 2) + 1] if "-m" in argv[2:] else None
        runs[env["VAPOR_ANSIBLE_EXPECT"]] = (env.get("VAPOR_ANSIBLE_BIN"), marker)
    return runs


def test_make_test_runs_every_controller(make_test_commands):
    runs = _pytest_runs(make_test_commands)
    expected = {}
    for venv, _req, release, what in matrix.controllers():
        if what == "all":
            expected[release] = (None, None)
        else:
            expected[release] = (os.path.join(REPO, venv, "bin"), what)
    assert runs == expected


def test_each_controller_venv_is_made_from_its_requirements_file():
    text = _read(os.path.join(REPO, "Makefile"))
    variables = dict(re.findall(r"^(\w+)\s*:=\s*(\S+)\s*$", text, re.M))
    rules = {}
    for var, prereqs in re.findall(r"^\$\((\w+)\)/\.installed:(.*)$", text, re.M):
        rules[variables[var]] = prereqs.split()
    for venv, req, _release, _what in matrix.controllers():
        assert req in rules.get(venv, []), "%s/.installed is not made from %s (Makefile)" % (venv, req)


def test_the_releases_tested_are_oldest_project_newest():
    releases = [release for _venv, _req, release, _what in matrix.controllers()]
    assert releases == sorted(releases, key=_v) and len(set(releases)) == len(releases), releases
    # the project's own ansible-core is the one of requirements.txt, which requirements-test.txt includes
    assert matrix.tested_release("requirements.txt") == releases[1]


def test_sanity_checks_every_target_python(make_test_commands):
    assert ["scripts/run-sanity.sh"] in make_test_commands, "make test runs no full scripts/run-sanity.sh"
    proc = subprocess.run([os.path.join(REPO, "scripts", "run-sanity.sh"), "--list-target-pythons"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    targets = proc.stdout.split()
    assert targets == matrix.target_pythons()
    assert targets[0] == "3.9", "EL9's platform Python is the oldest target"
    assert [_v(t) for t in targets] == [(3, n) for n in range(_v(targets[0])[1], _v(targets[-1])[1] + 1)], targets


def test_requires_ansible_is_the_oldest_tested():
    runtime = yaml.safe_load(_read(os.path.join(COLLECTION, "meta", "runtime.yml")))
    releases = [release for _venv, _req, release, _what in matrix.controllers()]
    spec = [s.strip() for s in runtime["requires_ansible"].split(",")]
    assert spec[0] == ">=%s.0" % releases[0], runtime["requires_ansible"]
    for bound in spec[1:]:  # an upper bound, if any, lets the newest tested release in
        m = re.match(r"^<(\d+\.\d+)", bound)
        assert m and _v(m.group(1)) > _v(releases[-1]), runtime["requires_ansible"]


def _guide_rows():
    """{release: (controller Python, tested?)} of the guide's table."""
    rows = {}
    for release, python, tested in re.findall(r"^(2\.\d+)\s+(3\.\d+) or later\s+(yes|no)\b", _read(GUIDE), re.M):
        rows[release] = (python, tested == "yes")
    return rows


def test_the_guide_states_the_matrix():
    text = _read(GUIDE)
    releases = [release for _venv, _req, release, _what in matrix.controllers()]
    targets = matrix.target_pythons()
    rows = _guide_rows()
    # every release line from the oldest to the newest tested, and "tested" exactly for those make test runs
    major = _v(releases[0])[0]
    assert sorted(rows, key=_v) == ["%d.%d" % (major, n)
                                    for n in range(_v(releases[0])[1], _v(releases[-1])[1] + 1)]
    assert sorted(r for r, (_p, tested) in rows.items() if tested) == sorted(releases, key=_v)
    for venv, _req, release, _what in matrix.controllers():
        assert re.search(r"^%s .*``%s``" % (re.escape(release), re.escape(venv)), text, re.M), (release, venv)
    assert "Controller: ansible-core %s to %s\n" % (releases[0], releases[-1]) in text
    assert "Targets: Python %s to %s\n" % (targets[0], targets[-1]) in text
    assert "run on Python %s." % _and(targets) in text
    assert "requires ansible-core %s or later" % releases[0] in text
    extra = yaml.safe_load(_read(os.path.join(COLLECTION, "docs", "docsite", "extra-docs.yml")))
    assert "guide_versions" in [page for sec in extra["sections"] for page in sec["toctree"]]


def test_the_readme_states_the_matrix():
    text = " ".join(_read(os.path.join(REPO, "README.md")).split())
    releases = [release for _venv, _req, release, _what in matrix.controllers()]
    targets = matrix.target_pythons()
    assert "Controller: ansible-core %s to %s," % (releases[0], releases[-1]) in text
    assert "`make test` runs playbooks with %s." % _and(releases) in text
    assert "Targets: Python %s to %s " % (targets[0], targets[-1]) in text
    assert "runs the storage dump with %s." % targets[0] in text


def _requires_python(venv):
    """ansible-core's own Requires-Python (``"3.12"`` of ``>=3.12``) in a venv, or None if not installed."""
    found = glob.glob(os.path.join(REPO, venv, "lib", "python3*", "site-packages", "ansible_core-*.dist-info",
                                   "METADATA"))
    if not found:
        return None
    m = re.search(r"^Requires-Python:\s*>=\s*(\d+\.\d+)", _read(found[0]), re.M)
    assert m, found[0]
    return m.group(1)


def _venv_python(venv):
    m = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", _read(os.path.join(REPO, venv, "pyvenv.cfg")), re.M)
    return m.group(1)


@pytest.mark.parametrize("venv,release", [(c[0], c[2]) for c in matrix.controllers()])
def test_the_controller_python_each_release_needs(venv, release):
    """The guide's controller Python is ansible-core's own Requires-Python, and the venv that tests it has one."""
    needs = _requires_python(venv)
    if needs is None:
        pytest.skip("%s is not set up (make test makes it)" % venv)
    assert _guide_rows()[release][0] == needs
    assert _v(_venv_python(venv)) >= _v(needs)
