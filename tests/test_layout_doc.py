# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The layout page names every file of plugins/module_utils, and only files that exist."""

import re
from pathlib import Path

COLLECTION = Path(__file__).resolve().parent.parent / "collections" / "ansible_collections" / "vapor" / "ops"
MODULE_UTILS = COLLECTION / "plugins" / "module_utils"
LAYOUT = COLLECTION / "docs" / "docsite" / "rst" / "layout.rst"
# files the page names as where coming work goes (they do not exist yet)
PLANNED = {"_clients/http.py", "_clients/ldap.py"}


def test_layout_page_names_every_core_file():
    text = LAYOUT.read_text()
    named = set(re.findall(r"``(_[a-z]+/[a-z_]+\.py)``", text))
    files = {str(p.relative_to(MODULE_UTILS)) for p in MODULE_UTILS.glob("_*/*.py") if p.name != "__init__.py"}
    assert files - named == set(), "files of plugins/module_utils missing from layout.rst"
    assert named - files - PLANNED == set(), "layout.rst names files that do not exist"
    subpackages = {p.name for p in MODULE_UTILS.iterdir() if p.is_dir() and p.name.startswith("_")}
    for sub in subpackages:
        assert "``%s/``" % sub in text, sub
        assert (MODULE_UTILS / sub / "__init__.py").read_text() == "", "%s/__init__.py must stay empty" % sub
