#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release matrix `make test` runs, read from where each fact lives.

One reader for the Makefile, scripts/run-sanity.sh and the tests (tests/test_matrix.py checks that meta/runtime.yml,
README.md and the collection's guide_versions page state what this finds):

Controllers: one venv per ansible-core release line, each made from its requirements file. A venv gets the newest
  ansible-core its file allows, so the release line it tests is the highest X.Y below the file's ``<`` bound
  (``ansible-core>=2.18,<2.20`` tests 2.19).

    .venv-compat   requirements-compat.txt   the oldest supported ansible-core (the tests marked compat)
    .venv          requirements-test.txt     the project's own (every test)
    .venv-newest   requirements-newest.txt   the newest ansible-core release (the tests marked compat)

Targets: the Pythons modules and node-side runners run on: every Python the ansible-test of ``.venv`` supports on
  targets, from the collection's tests/config.yml ``python_requires`` up (scripts/run-sanity.sh checks compile and
  import on each of them that is on the machine).

    scripts/matrix.py expect .venv-newest     2.21    (the release line a venv tests)
    scripts/matrix.py controllers             one line per venv: <venv> <requirements file> <X.Y>
    scripts/matrix.py targets                 3.9 3.10 3.11 3.12 3.13   (run it with .venv/bin/python)

Only the standard library: the Makefile runs it with the system Python before any venv exists.
"""

from __future__ import annotations

import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = os.path.join(REPO, "collections", "ansible_collections", "vapor", "ops")

# (venv, requirements file it is made from, what it runs in `make test`), oldest release line first
CONTROLLERS = (
    (".venv-compat", "requirements-compat.txt", "compat"),
    (".venv", "requirements-test.txt", "all"),
    (".venv-newest", "requirements-newest.txt", "compat"),
)

_CORE = re.compile(r"^\s*ansible-core\s*(?P<spec>[<>=!~][^;#]*)")
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement)\s*=?\s*(\S+)")
_BOUND = re.compile(r"^(>=|<)\s*(\d+)\.(\d+)(?:\.\d+)?$")


class MatrixError(Exception):
    pass


def _version(text):
    return tuple(int(x) for x in text.split("."))


def _text(version):
    return ".".join(str(x) for x in version)


def ansible_core_range(requirements):
    """(lowest, first excluded) release lines, as (major, minor) tuples, of the ansible-core line in a
    requirements file (following ``-r`` includes)."""
    path = requirements if os.path.isabs(requirements) else os.path.join(REPO, requirements)
    with open(path) as fh:
        lines = fh.read().splitlines()
    for line in lines:
        inc = _INCLUDE.match(line)
        if inc:
            try:
                return ansible_core_range(os.path.join(os.path.dirname(path), inc.group(1)))
            except MatrixError:
                continue
        m = _CORE.match(line)
        if not m:
            continue
        low = high = None
        for part in m.group("spec").split(","):
            b = _BOUND.match(part.strip())
            if not b:
                raise MatrixError("%s: ansible-core must be given as >=X.Y,<X.Z, not %r" % (path, line.strip()))
            if b.group(1) == ">=":
                low = (int(b.group(2)), int(b.group(3)))
            else:
                high = (int(b.group(2)), int(b.group(3)))
        if low is None or high is None or not low < high:
            raise MatrixError("%s: ansible-core must be given as >=X.Y,<X.Z, not %r" % (path, line.strip()))
        return low, high
    raise MatrixError("%s names no ansible-core" % path)


def tested_release(requirements):
    """The ansible-core release line (``"2.19"``) a venv made from ``requirements`` gets: the newest it allows."""
    low, high = ansible_core_range(requirements)
    if high[1] == 0:
        raise MatrixError("%s: an upper bound <%s.0 does not name the release line below it" % (requirements, high[0]))
    tested = (high[0], high[1] - 1)
    if tested < low:
        raise MatrixError("%s allows no ansible-core release" % requirements)
    return _text(tested)


def controllers():
    """[(venv, requirements file, release line, what it runs)], oldest release line first."""
    return [(venv, req, tested_release(req), runs) for venv, req, runs in CONTROLLERS]


def requirements_of(venv):
    for name, req, _runs in CONTROLLERS:
        if name == venv.rstrip("/"):
            return req
    raise MatrixError("no controller venv named %r (scripts/matrix.py CONTROLLERS)" % venv)


def python_requires():
    """The lowest target Python of the collection's tests/config.yml ``python_requires: '>=X.Y'``."""
    path = os.path.join(COLLECTION, "tests", "config.yml")
    with open(path) as fh:
        m = re.search(r"^\s*python_requires:\s*['\"]?>=\s*(\d+\.\d+)['\"]?\s*$", fh.read(), re.M)
    if not m:
        raise MatrixError("%s: python_requires must be of the form '>=X.Y'" % path)
    return m.group(1)


def ansible_test_pythons():
    """The Python versions the ansible-test of the running interpreter supports (targets included)."""
    try:
        from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS
    except ImportError:
        raise MatrixError("ansible-test is not importable by %s: run this with .venv/bin/python" % sys.executable)
    return list(SUPPORTED_PYTHON_VERSIONS)


def target_pythons():
    """The target Pythons, oldest first: ``["3.9", "3.10", ...]``."""
    low = _version(python_requires())
    return sorted((v for v in ansible_test_pythons() if _version(v) >= low), key=_version)


def main(argv):
    try:
        if argv[:1] == ["expect"] and len(argv) == 2:
            print(tested_release(requirements_of(argv[1])))
        elif argv == ["controllers"]:
            for venv, req, release, _runs in controllers():
                print(venv, req, release)
        elif argv == ["targets"]:
            print(" ".join(target_pythons()))
        else:
            print("usage: matrix.py expect VENV | controllers | targets", file=sys.stderr)
            return 2
    except (MatrixError, OSError) as exc:
        print("matrix.py: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
