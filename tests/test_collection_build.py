# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection builds with ansible-galaxy, installs from the tarball, and works from the installed copy.

Everything after the build runs with a neutral ansible.cfg, a working directory outside the repository and
ANSIBLE_COLLECTIONS_PATH pointing only at the temporary install, so the repository's own
collections/ansible_collections/vapor/ops (which the project's ansible.cfg puts on the path) cannot be used by
accident.
"""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
TIMEOUT = 300
pytestmark = pytest.mark.compat      # build, install and run with every supported ansible-core


def _tool(name):
    try:
        return ansible_runner.ansible_tool(name)
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def _run(argv, env, cwd):
    proc = subprocess.run(argv, env=env, cwd=str(cwd), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, (
        f"{' '.join(argv)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the collection, install the tarball into a temporary collections path; return the paths and env."""
    base = tmp_path_factory.mktemp("collection_build")
    dist = base / "dist"
    collections_path = base / "collections"
    work = base / "work"
    for d in (dist, collections_path, work):
        d.mkdir()
    cfg = base / "ansible.cfg"
    cfg.write_text("[defaults]\nretry_files_enabled = false\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(cfg),
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )

    _run([_tool("ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path", str(dist)], env, work)
    tarballs = sorted(dist.glob("vapor-ops-*.tar.gz"))
    assert len(tarballs) == 1, f"expected one tarball in {dist}, found {tarballs}"

    _run([_tool("ansible-galaxy"), "collection", "install", str(tarballs[0]), "-p", str(collections_path)], env, work)
    root = collections_path / "ansible_collections" / "vapor" / "ops"
    return {"tarball": tarballs[0], "root": root, "env": env, "work": work, "base": base}


def test_tarball_content(installed):
    with tarfile.open(installed["tarball"]) as tar:
        names = set(tar.getnames())
    for required in (
        "MANIFEST.json",
        "FILES.json",
        "README.md",
        "LICENSE",
        "meta/runtime.yml",
        # ansible-builder reads these from the installed collection; build_ignore must never drop them.
        "meta/execution-environment.yml",
        "meta/ee-requirements.txt",
        "meta/ee-bindep.txt",
        "plugins/modules/se_dump.py",
    ):
        assert required in names, f"{required} missing from {installed['tarball'].name}"
    leaked = [n for n in names if "__pycache__" in n or n.startswith("tests/output") or n.endswith(".tar.gz")]
    assert not leaked, f"build_ignore should keep these out of the tarball: {leaked}"


def test_installed_tree(installed):
    root = installed["root"]
    assert (root / "plugins" / "modules" / "se_dump.py").is_file()
    assert (root / "meta" / "runtime.yml").is_file()
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["namespace"] == "vapor"
    assert manifest["collection_info"]["name"] == "ops"


def test_ansible_doc_uses_installed_copy(installed):
    proc = _run([_tool("ansible-doc"), "-t", "module", "--json", "vapor.ops.se_dump"], installed["env"],
                installed["work"])
    doc = json.loads(proc.stdout)["vapor.ops.se_dump"]["doc"]
    assert Path(doc["filename"]).resolve() == (installed["root"] / "plugins/modules/se_dump.py").resolve()
    assert doc["short_description"]
    assert "dest" in doc["options"]


def test_se_dump_runs_from_installed_copy(installed):
    storage = installed["base"] / "storage"
    dest = installed["base"] / "dumps"
    seeded = ["a.dat", "sub/b.root", "sub/deeper/c.txt"]
    for rel in seeded:
        path = storage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n")
    dest.mkdir()

    proc = _run(
        [
            _tool("ansible"),
            "localhost",
            "-c", "local",
            "-m", "vapor.ops.se_dump",
            "-a", f"source=posix roots={storage} dest={dest} format=text",
            "-e", f"ansible_python_interpreter={sys.executable}",
        ],
        installed["env"],
        installed["work"],
    )
    assert "CHANGED" in proc.stdout, proc.stdout

    dumps = sorted(p for p in dest.glob("dump_*") if p.is_file() and not p.is_symlink())
    assert len(dumps) == 1, f"expected one dump in {dest}: {sorted(os.listdir(dest))}\n{proc.stdout}"
    lines = dumps[0].read_text().splitlines()
    for rel in seeded:
        assert any(line == str(storage / rel) or line.endswith("/" + rel) for line in lines), (
            f"{rel} not listed in {dumps[0]}:\n{lines}"
        )
    assert len(lines) == len(seeded), lines


def test_top_level_galaxy_yml_matches_collection():
    top = yaml.safe_load((REPO / "galaxy.yml").read_text())
    coll = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert top == coll, "galaxy.yml at the repository root and in the collection have drifted apart"
    assert (top["namespace"], top["name"]) == ("vapor", "ops")


def test_version_module_equals_galaxy_yml():
    """module_utils/_common/version.py carries the version to the hosts (the User-Agent): the same as galaxy.yml."""
    coll = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    text = (COLLECTION / "plugins/module_utils/_common/version.py").read_text()
    assert f"COLLECTION_VERSION = '{coll['version']}'" in text
    assert f"COLLECTION = '{coll['namespace']}.{coll['name']}'" in text
