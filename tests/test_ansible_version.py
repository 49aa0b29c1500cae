# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ansible-core the integration tests drive is the one ``make test`` meant: the project's venv
(2.19) in the main run, ``.venv-compat`` (2.18, the oldest supported) and ``.venv-newest`` (2.21, the newest) in the
compat runs."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import ansible_runner
import matrix

SUPPORTED = tuple(c[2] for c in matrix.controllers())  # the release lines make test runs (scripts/matrix.py)


@pytest.mark.compat
@pytest.mark.parametrize("tool", ["ansible-playbook", "ansible", "ansible-doc", "ansible-galaxy"])
def test_the_ansible_core_under_test(tool):
    path = ansible_runner.ansible_tool(tool)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120, check=True).stdout
    m = re.search(r"\[core (\d+\.\d+)\.\d+", out)
    assert m, out
    assert m.group(1) in SUPPORTED, out
    expected = os.environ.get("VAPOR_ANSIBLE_EXPECT")
    if expected:
        assert m.group(1) == expected, "%s is ansible-core %s, the run expects %s" % (path, m.group(1), expected)
