# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection README lists all the collection's content, and only content that exists.

Content is read from the tree: every plugin of every type (``plugins/<type>/<name>.py``, module_utils aside), every
role and every page of ``docs/docsite/rst/``. The README's "Content" table names each with its type; its
requirements table names every module.
"""

import re
from pathlib import Path

import pytest

COLLECTION = Path(__file__).resolve().parent.parent / "collections" / "ansible_collections" / "vapor" / "ops"
README = COLLECTION / "README.md"
FQCN = "vapor.ops."
# the type column's words for each plugins/ directory; a new plugin type gets its word here
PLUGIN_TYPES = {
    "modules": "module",
    "doc_fragments": "doc fragment",
    "action": "action plugin",
    "callback": "callback plugin",
    "connection": "connection plugin",
    "filter": "filter plugin",
    "inventory": "inventory plugin",
    "lookup": "lookup plugin",
    "test": "test plugin",
}


def _section(text, title):
    match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    assert match, "README.md has no section '## %s'" % title
    return match.group(1)


def _table_rows(section):
    """The rows of the first markdown table of a section, as lists of cells (header and rule left out)."""
    rows = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    assert len(rows) > 2, "no table in:\n%s" % section
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _content():
    """{(type word, name)} of what the tree holds, names as the README writes them."""
    items = set()
    for type_dir in sorted((COLLECTION / "plugins").iterdir()):
        if not type_dir.is_dir() or type_dir.name in ("module_utils", "plugin_utils"):   # shared code, no content
            continue
        plugins = [p for p in type_dir.glob("*.py") if p.name != "__init__.py"]
        if not plugins:
            continue
        assert type_dir.name in PLUGIN_TYPES, "plugins/%s: add its type word to PLUGIN_TYPES" % type_dir.name
        items.update((PLUGIN_TYPES[type_dir.name], "`%s%s`" % (FQCN, p.stem)) for p in plugins)
    items.update(("role", "`%s%s`" % (FQCN, p.name)) for p in (COLLECTION / "roles").iterdir() if p.is_dir())
    items.update(("docs page", "`%s`" % p.relative_to(COLLECTION))
                 for p in (COLLECTION / "docs" / "docsite" / "rst").glob("*.rst"))
    return items


def _listed():
    rows = _table_rows(_section(README.read_text(), "Content"))
    return {(row[0], row[1]) for row in rows}


def test_tree_has_content():
    kinds = {kind for kind, _ in _content()}
    assert {"module", "role", "doc fragment", "docs page"} <= kinds


def test_readme_lists_all_content():
    missing = sorted(_content() - _listed())
    assert not missing, "README.md's Content table lacks (type, name): %s" % missing


def test_readme_lists_only_what_exists():
    extra = sorted(_listed() - _content())
    assert not extra, "README.md's Content table names what the collection does not hold: %s" % extra


def test_content_rows_say_what_each_does():
    for row in _table_rows(_section(README.read_text(), "Content")):
        assert len(row) == 3 and len(row[2]) > 20, "row without a description: %s" % row


@pytest.mark.parametrize("module", sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py")))
def test_readme_requirements_name_every_module(module):
    requirements = _section(README.read_text(), "Requirements")
    named = set()
    for row in _table_rows(requirements):
        named.update(re.findall(r"`([a-z_]+)`", row[0]))
    assert module in named, "README.md's requirements table does not say what %s needs" % module
