# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's metadata says what is true: galaxy.yml, the tarball's content, the modules' requirements and
the changelog of the coming release.

- galaxy.yml has no placeholder URLs, and its build_ignore keeps editor, merge and cache files out of the tarball:
  a copy of the collection's tracked files, with such files planted in it, is built with ansible-galaxy and the
  tarball holds every tracked file (license, metadata, plugins, roles) and none of the planted ones.
- Every module's ``requirements:`` names the libraries the module itself asks for (the ``needs`` it gives
  run_module, evaluated for every catalog back end, storage URL kind and scanner source).
- The changelog fragments of a collection that has no release yet carry no bug fixes or other changes of released
  code, and ``antsibull-changelog release`` renders the coming release from them (in a scratch copy).
"""

import importlib
import itertools
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
GALAXY = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
TIMEOUT = 300

# Files an editor, a merge tool, the OS or a test tool leaves in a work tree (paths in the collection).
PLANTED = [
    "plugins/modules/.se_dump.py.swp",
    "plugins/modules/.se_dump.py.swo",
    "plugins/modules/se_dump.py~",
    "README.md~",
    "plugins/module_utils/_common/.#paths.py",
    ".#galaxy.yml",
    "roles/storage_dump/tasks/#main.yml#",
    "#README.md#",
    "plugins/modules/se_dump.py.orig",
    "plugins/modules/se_dump.py.rej",
    "README.md.orig",
    "meta/runtime.yml.bak",
    ".DS_Store",
    "plugins/.DS_Store",
    "plugins/modules/__pycache__/se_dump.cpython-311.pyc",
    "plugins/module_utils/_common/paths.pyc",
    ".pytest_cache/v/cache/lastfailed",
    "tests/unit/.pytest_cache/README.md",
    ".mypy_cache/3.11/cache.json",
    "tests/unit/.mypy_cache/x.json",
    ".ruff_cache/0.1/cache",
    "plugins/.ruff_cache/x",
    ".hypothesis/examples/x",
    "tests/unit/.hypothesis/examples/x",
    "tests/output/junit/python3.11-units.xml",
    ".ansible/collections/x",
    ".idea/workspace.xml",
    ".vscode/settings.json",
    "vapor-ops-0.0.9.tar.gz",
]


def _tracked_files():
    """The collection's files as git knows them (committed or added), relative to the collection."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."],
                         cwd=str(COLLECTION), capture_output=True, check=True).stdout
    names = [p for p in out.decode().split("\0") if p]
    return sorted(p for p in names if (COLLECTION / p).exists() or (COLLECTION / p).is_symlink())


def _copy_collection(base):
    """Copy the collection's tracked files (links kept as links) to base/ansible_collections/vapor/ops; return
    (that directory, the relative paths copied)."""
    root = base / "ansible_collections" / "vapor" / "ops"
    tracked = _tracked_files()
    for rel in tracked:
        src, dst = COLLECTION / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(str(src)), str(dst))
        else:
            shutil.copy2(str(src), str(dst))
    return root, tracked


# -- galaxy.yml ---------------------------------------------------------------------------------------------------


def test_galaxy_yml_has_no_placeholder_urls():
    for key in ("repository", "documentation", "homepage", "issues"):
        url = GALAXY.get(key)
        if url is not None:
            assert not re.search(r"example\.(org|com|net)|localhost|TODO|changeme", url, re.I), (
                "galaxy.yml %s is a placeholder (%s): leave it out until there is a real one" % (key, url))


def test_galaxy_yml_names_the_license_the_collection_carries():
    assert GALAXY["license"] == ["GPL-3.0-or-later"]
    assert (COLLECTION / "LICENSE").read_text().startswith(" " * 20 + "GNU GENERAL PUBLIC LICENSE")
    spdx = COLLECTION / "LICENSES" / "GPL-3.0-or-later.txt"
    assert spdx.read_text() == (COLLECTION / "LICENSE").read_text()
    assert (REPO / "LICENSES" / "GPL-3.0-or-later.txt").read_text() == (COLLECTION / "LICENSE").read_text()


# -- the tarball --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """Build a copy of the collection (its tracked files plus PLANTED junk); return (tarball path, tracked)."""
    base = tmp_path_factory.mktemp("tarball")
    root, tracked = _copy_collection(base)
    for rel in PLANTED:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("planted by %s\n" % __name__)
    dist = base / "dist"
    dist.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(base / "none.cfg"))
    argv = [ansible_runner.ansible_tool("ansible-galaxy"), "collection", "build", str(root), "--output-path",
            str(dist)]
    proc = subprocess.run(argv, env=env, cwd=str(base), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, "%s\n%s\n%s" % (" ".join(argv), proc.stdout, proc.stderr)
    built = sorted(dist.glob("vapor-ops-*.tar.gz"))
    assert len(built) == 1, built
    return built[0], tracked


def _names(path):
    with tarfile.open(str(path)) as tar:
        return {m.name for m in tar.getmembers() if not m.isdir()}


def test_tarball_leaves_out_editor_and_cache_files(tarball):
    names = _names(tarball[0])
    leaked = sorted(rel for rel in PLANTED if rel in names)
    assert not leaked, "build_ignore in galaxy.yml lets these into the tarball: %s" % leaked


def test_tarball_holds_every_tracked_file(tarball):
    names = _names(tarball[0])
    # galaxy.yml itself is replaced by MANIFEST.json in a built collection
    missing = sorted(rel for rel in tarball[1] if rel not in names and rel != "galaxy.yml")
    assert not missing, "build_ignore in galaxy.yml keeps these tracked files out of the tarball: %s" % missing


def test_tarball_holds_license_metadata_and_plugins(tarball):
    names = _names(tarball[0])
    modules = {p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py")}
    required = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "LICENSES/GPL-3.0-or-later.txt",
                "meta/runtime.yml", "changelogs/changelog.yaml", "roles/storage_dump/meta/argument_specs.yml"}
    required |= {"plugins/modules/%s.py" % m for m in modules}
    assert required - names == set()


# -- requirements -------------------------------------------------------------------------------------------------

MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py"))


def _needed_requirements(name, monkeypatch):
    """The requirement texts module ``name`` can ask for, from the ``needs`` it hands run_module."""
    module = importlib.import_module("ansible_collections.vapor.ops.plugins.modules.%s" % name)
    seen = {}

    def fake_run_module(*args, **kwargs):
        seen["needs"] = kwargs.get("needs")

    monkeypatch.setattr(module, "run_module", fake_run_module)
    module.main()
    needs = seen.get("needs")
    if needs is None:
        return set()
    from ansible_collections.vapor.ops.plugins.module_utils._storage.scanners import SOURCES
    texts = set()
    for backend, url, source in itertools.product(("mysql", "sqlite"), ("root://se.example//vo", "file:///vo"),
                                                  SOURCES):
        params = {"catalog": {"backend": backend}, "storage_url": url, "source": source}
        for need in needs(params):
            if need[0]:
                texts.add(need[0])
    return texts


@pytest.mark.parametrize("name", MODULES)
def test_module_requirements_name_what_the_module_needs(name, monkeypatch):
    module = importlib.import_module("ansible_collections.vapor.ops.plugins.modules.%s" % name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    declared = " ".join(doc.get("requirements") or [])
    assert declared, "%s declares no requirements:" % name
    for text in _needed_requirements(name, monkeypatch):
        # 'PyMySQL or mysqlclient (python3-...)' -> PyMySQL, mysqlclient; 'duckdb >= 1.1' -> itself
        for library in text.split("(")[0].split(" or "):
            named = re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(library.strip()), declared)
            assert named, (
                "%s can ask for %r (%s) but its requirements do not name it: %s" % (name, library, text, declared))


# -- changelog ----------------------------------------------------------------------------------------------------

CHANGELOGS = COLLECTION / "changelogs"
# sections that only make sense against something already released
CHANGES_OF_RELEASED_CODE = {"bugfixes", "breaking_changes", "deprecated_features", "removed_features",
                            "security_fixes"}


def _released_versions():
    return set((yaml.safe_load((CHANGELOGS / "changelog.yaml").read_text()).get("releases") or {}))


def _fragments():
    return sorted(p for p in (CHANGELOGS / "fragments").iterdir() if p.suffix in (".yml", ".yaml"))


def test_fragments_of_a_first_release_carry_no_changes_of_released_code():
    if _released_versions():
        pytest.skip("a release exists: fragments describe changes to it")   # not the case while 0.1.0 is coming
    wrong = {}
    for path in _fragments():
        sections = set(yaml.safe_load(path.read_text()) or {})
        if sections & CHANGES_OF_RELEASED_CODE:
            wrong[path.name] = sorted(sections & CHANGES_OF_RELEASED_CODE)
    assert not wrong, ("nothing is released yet, so there is nothing to fix or change: fold these into the "
                       "release summary (changelogs/fragments/%s.yml) or drop them: %s" % (GALAXY["version"], wrong))


def test_fragments_do_not_repeat_the_generated_new_plugin_sections():
    for path in _fragments():
        for section, entries in (yaml.safe_load(path.read_text()) or {}).items():
            for entry in entries if isinstance(entries, list) else [entries]:
                assert not re.search(r"\bnew (module|role|plugin)s?\b(?! option| parameter| argument)", entry,
                                     re.I), (
                    "%s (%s) announces new content, which antsibull-changelog lists from version_added: %s"
                    % (path.name, section, entry[:80]))


def test_release_renders(tmp_path):
    """antsibull-changelog releases the coming version in a scratch copy: a summary, the new modules and roles,
    and no section that needs an earlier release."""
    tool = REPO / ".venv" / "bin" / "antsibull-changelog"
    if not tool.exists():
        tool = shutil.which("antsibull-changelog")
    assert tool, "antsibull-changelog is not installed: make venv installs requirements-lint.txt into .venv"
    root = _copy_collection(tmp_path)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = "%s:%s" % (Path(ansible_runner.ansible_tool("ansible-doc")).parent, env.get("PATH", ""))
    version = GALAXY["version"]
    proc = subprocess.run([str(tool), "release", "--version", version, "--date", "2026-12-01"], cwd=str(root),
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = sorted(root.glob("CHANGELOG.*"))
    changelog = yaml.safe_load((root / "changelogs" / "changelog.yaml").read_text())
    release = changelog["releases"][version]
    assert "release_summary" in release["changes"], release["changes"]
    assert not set(release["changes"]) & CHANGES_OF_RELEASED_CODE, release["changes"]
    assert sorted(m["name"] for m in release["modules"]) == MODULES
    assert [r["name"] for r in release.get("objects", {}).get("role", [])] == sorted(
        p.name for p in (COLLECTION / "roles").iterdir() if p.is_dir())
    assert written, "no CHANGELOG file written: %s" % proc.stdout
    text = written[0].read_text().replace("\\", "")     # the markdown output escapes punctuation
    for heading in ("Release Summary", "New Modules", "New Roles"):
        assert heading in text, "%s lacks %r:\n%s" % (written[0].name, heading, text)
    for module in MODULES:
        assert "vapor.ops.%s" % module in text
