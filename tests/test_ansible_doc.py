# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-doc renders every module, inventory plugin and role of the collection, with the ansible-core under test
(and, marked compat, with the oldest and the newest): the text page of each, its description and its options."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"


def _names(kind_dir: str, suffix: str = ".py") -> list[str]:
    return sorted(p.stem if suffix else p.name for p in (COLLECTION / kind_dir).iterdir()
                  if (p.suffix == suffix if suffix else p.is_dir()) and not p.name.startswith("_"))


CONTENT = {
    "module": _names("plugins/modules"),
    "inventory": _names("plugins/inventory"),
    "role": _names("roles", suffix=""),
}


def _doc(kind: str, names: list[str]) -> str:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PAGER="cat")
    proc = subprocess.run([ansible_runner.ansible_tool("ansible-doc"), "-t", kind] + ["vapor.ops." + n for n in names],
                          capture_output=True, text=True, timeout=300, cwd=str(REPO), env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # warnings about the collection's documents fail; ansible-core 2.21 warns about its own internal collection
    # (ansible/_internal/.../_protomatter has no version) whenever it lists roles, which is not ours to fix
    problems = [line for line in proc.stderr.splitlines()
                if ("WARNING" in line or "ERROR" in line) and "/ansible/_internal/" not in line]
    assert problems == [], proc.stderr
    return proc.stdout


@pytest.mark.compat
@pytest.mark.parametrize("kind", sorted(CONTENT))
def test_ansible_doc_renders_every_plugin_and_role(kind):
    names = CONTENT[kind]
    assert names, kind
    text = _doc(kind, names)
    header = {"module": "> MODULE ", "inventory": "> INVENTORY ", "role": "> ROLE: "}[kind]
    for name in names:
        assert re.search(re.escape(header) + r"\S*vapor\.ops\.%s\b" % re.escape(name), text), (kind, name)
    pages = text.split(header)[1:]
    assert len(pages) == len(names)
    for page in pages:
        # every page has a description and options (a role: its entry point's options)
        assert re.search(r"OPTIONS|Options", page), page[:300]
        assert len(page) > 800, page[:300]
