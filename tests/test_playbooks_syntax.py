# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every playbook of the site project parses with no warning (a duplicate YAML key is silently overridden)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_runner import REPO, ansible_tool

PLAYBOOKS = sorted(p.name for p in (REPO / "playbooks").glob("*.yml"))


@pytest.mark.compat
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_parses_without_warning(playbook):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", NO_COLOR="1")
    p = subprocess.run([ansible_tool("ansible-playbook"), "-i", str(REPO / "inventories" / "demo"), "--syntax-check",
                        str(REPO / "playbooks" / playbook)], capture_output=True, text=True, env=env, cwd=REPO,
                       timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "[WARNING]" not in out and "[DEPRECATION WARNING]" not in out, out
