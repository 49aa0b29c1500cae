# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution environment (EE): its dependency lists match what the plugins import, and the build context that
`ansible-builder create` writes for the sample EE installs the built collection tarball and puts the Python packages
next to the gfal2/XRootD bindings.

No image is built (this machine has no container engine and cannot reach a registry): the checks read the generated
Containerfile and its _build/ directory. scripts/ee-context.py writes them; `make ee` (part of `make test`) installs
ansible-builder (requirements-ee.txt) and runs it.
"""

import ast
import importlib.util
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
META = COLLECTION / "meta"
SAMPLE = COLLECTION / "docs" / "execution-environment.yml"
SCRIPT = REPO / "scripts" / "ee-context.py"
TIMEOUT = 300

# The one hand-kept piece: top-level import name -> the distributions that satisfy it, pip names
# (meta/ee-requirements.txt) or system packages (meta/ee-bindep.txt). _clients/db.py tries one driver after
# another, so either of its MySQL drivers (MySQLdb, then pymysql) and either PostgreSQL driver (psycopg, then
# psycopg2) serves.
PROVIDERS = {
    "duckdb": {"duckdb"},
    "lxml": {"lxml"},
    "pymysql": {"pymysql"},
    "MySQLdb": {"mysqlclient", "pymysql"},
    "psycopg": {"psycopg"},
    "psycopg2": {"psycopg2", "psycopg2-binary", "psycopg"},
    "gfal2": {"python3-gfal2"},
    "XRootD": {"python3-xrootd"},
    "requests": {"requests"},
    "cryptography": {"cryptography"},
}
# System packages a provider needs beside it at run time, imported by nobody: gfal2's protocol plugins (file://,
# root://, https:// and davs://) and the libpq that pure-Python psycopg loads (rpm name, dpkg name).
COMPANIONS = {
    "python3-gfal2": {"gfal2-plugin-file", "gfal2-plugin-xrootd", "gfal2-plugin-http"},
    "psycopg": {"libpq", "libpq5"},
}
# PyYAML comes with ansible-core in every EE (ansible-builder leaves it out of the collection's list on purpose)
NOT_THIRD_PARTY = set(sys.stdlib_module_names) | {"ansible", "ansible_collections", "yaml"}
# The EE is EL-based: ansible-builder installs the bindep entries of the rpm platform. On EL9, python3-* packages
# (python3-gfal2 and python3-xrootd from EPEL among them) are built for the platform Python.
EE_PLATFORM = "rpm"
PLATFORM_PYTHON = "/usr/bin/python3"
BINDINGS = ("python3-gfal2", "python3-xrootd")
INSTALLED_COLLECTION = "/usr/share/ansible/collections/ansible_collections/vapor/ops"


# --- what the plugins import, what the lists hold -----------------------------------------------------------------

def third_party_imports():
    """{top-level module: [files importing it]} for every absolute import in plugins/ that is neither the standard
    library nor Ansible."""
    found = {}
    for path in sorted((COLLECTION / "plugins").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in NOT_THIRD_PARTY:
                    found.setdefault(top, []).append(str(path.relative_to(COLLECTION)))
    return found


def _lines(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def pip_requirements():
    """Canonical names of the distributions meta/ee-requirements.txt lists."""
    names = set()
    for line in _lines(META / "ee-requirements.txt"):
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        assert match, f"meta/ee-requirements.txt: cannot read {line!r}"
        names.add(canonicalize_name(match.group(0)))
    return names


def bindep_packages():
    """{platform: set of packages} from meta/ee-bindep.txt (each entry names exactly one platform)."""
    packages = {}
    for line in _lines(META / "ee-bindep.txt"):
        match = re.fullmatch(r"(\S+)\s*\[platform:(\w+)\]", line)
        assert match, f"meta/ee-bindep.txt: {line!r} is not 'package [platform:rpm|dpkg]'"
        packages.setdefault(match.group(2), set()).add(match.group(1))
    return packages


def test_meta_points_at_the_lists():
    meta = yaml.safe_load((META / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}


def test_every_plugin_import_is_provided():
    imports = third_party_imports()
    assert imports, "found no third-party import in plugins/: the walk is broken"
    unknown = {name: files for name, files in imports.items() if name not in PROVIDERS}
    assert not unknown, (f"plugins import {unknown}: add the import name and its distribution to PROVIDERS in this "
                         "test, and the distribution to meta/ee-requirements.txt or meta/ee-bindep.txt")
    listed = pip_requirements() | bindep_packages()[EE_PLATFORM]
    missing = {name: sorted(PROVIDERS[name]) for name in imports if not PROVIDERS[name] & listed}
    assert not missing, f"no listed package provides these imports (import: candidates): {missing}"


def test_nothing_listed_that_no_plugin_imports():
    providers = set().union(*(PROVIDERS[name] for name in third_party_imports() if name in PROVIDERS))
    unused = pip_requirements() - providers
    assert not unused, f"meta/ee-requirements.txt lists {sorted(unused)}, which no plugin imports"
    allowed = providers.union(*(COMPANIONS.get(p, set()) for p in providers))
    for platform, packages in bindep_packages().items():
        assert not packages - allowed, (f"meta/ee-bindep.txt lists {sorted(packages - allowed)} [platform:{platform}]"
                                        ", which no plugin imports or needs")


def test_bindep_lists_the_bindings_and_their_plugins():
    packages = bindep_packages()
    for platform in ("rpm", "dpkg"):
        for binding in BINDINGS:
            assert binding in packages.get(platform, set()), f"{binding} [platform:{platform}] is not in ee-bindep.txt"
        plugins = COMPANIONS["python3-gfal2"]
        assert plugins <= packages[platform], f"gfal2 plugins missing for {platform}: {plugins - packages[platform]}"


def test_sample_names_the_collection_version():
    meta = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    expected = f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"
    named = re.findall(r"vapor-ops-[0-9][^\s/]*?\.tar\.gz", SAMPLE.read_text())
    assert named, "the sample EE names no collection tarball"
    assert set(named) == {expected}, f"the sample EE names {sorted(set(named))}; galaxy.yml builds {expected}"


# --- the build context ansible-builder writes for the sample --------------------------------------------------------

@pytest.fixture(scope="module")
def ee(tmp_path_factory):
    """Build the collection tarball, run scripts/ee-context.py on it; the paths of the tarball and the context."""
    if importlib.util.find_spec("ansible_builder") is None:
        pytest.skip("ansible-builder is not installed in this Python (make ee installs requirements-ee.txt)")
    base = tmp_path_factory.mktemp("ee")
    dist = base / "dist"
    dist.mkdir()
    galaxy = ansible_runner.ansible_tool("ansible-galaxy")
    build = subprocess.run([galaxy, "collection", "build", str(COLLECTION), "--output-path", str(dist)],
                           capture_output=True, text=True, timeout=TIMEOUT, cwd=str(base))
    assert build.returncode == 0, build.stdout + build.stderr
    [tarball] = dist.glob("vapor-ops-*.tar.gz")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dist", str(dist), "--output", str(base / "out")],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    context = Path(proc.stdout.strip().splitlines()[-1])
    assert context == base / "out" / "context"
    return {"tarball": tarball, "context": context,
            "containerfile": (context / "Containerfile").read_text().splitlines()}


def _arg(lines, name):
    values = [m.group(1) for line in lines for m in [re.fullmatch(r'ARG %s="(.*)"' % name, line)] if m]
    assert len(values) == 1, f"expected one ARG {name}=... in the Containerfile, found {values}"
    return values[0]


def _index(lines, predicate, what):
    found = [i for i, line in enumerate(lines) if predicate(line)]
    assert len(found) == 1, f"expected one Containerfile line that {what}, found {[lines[i] for i in found]}"
    return found[0]


def _stages(lines):
    """{stage name: (first line, last line)} of the multi-stage Containerfile."""
    starts = [(i, m.group(1)) for i, line in enumerate(lines)
              for m in [re.match(r"FROM \S+ as (\w+)$", line, re.I)] if m]
    return {name: (i, (starts[k + 1][0] if k + 1 < len(starts) else len(lines)) - 1)
            for k, (i, name) in enumerate(starts)}


def test_the_collection_installed_is_the_built_tarball(ee):
    context, lines = ee["context"], ee["containerfile"]
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements == {"collections": [{"name": requirements["collections"][0]["name"], "type": "file"}]}, (
        f"the EE installs collections from somewhere else than one file: {requirements}")
    in_image = Path(requirements["collections"][0]["name"])
    # The galaxy stage adds the context's _build/ as /build and installs from there.
    first, last = _stages(lines)["galaxy"]
    added = _index(lines, lambda line: re.fullmatch(r"(ADD|COPY) _build /build/?", line), "adds _build as /build")
    install = _index(lines, lambda line: "ansible-galaxy collection install" in line, "installs the collections")
    assert first < added < install <= last
    assert "-r requirements.yml" in lines[install]
    assert in_image.is_absolute() and in_image.parts[:2] == ("/", "build"), in_image
    copied = context / "_build" / in_image.relative_to("/build")
    assert copied.is_file(), f"{copied} (the tarball requirements.yml names) is not in the build context"
    assert copied.read_bytes() == ee["tarball"].read_bytes(), "the context holds another tarball than the built one"
    with tarfile.open(copied) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        names = set(tar.getnames())
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"],
                                                                 galaxy["version"])
    assert {"meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= names


def test_pip_packages_go_to_the_python_with_the_bindings(ee):
    lines = ee["containerfile"]
    controller = _arg(lines, "PYCMD")
    version = re.fullmatch(r"/usr/bin/python(\d+)\.(\d+)", controller)
    assert version and (int(version.group(1)), int(version.group(2))) >= (3, 11), (
        f"ansible-core runs with {controller}; ansible-core 2.18 and later need Python 3.11 or later")
    assert controller != PLATFORM_PYTHON
    assert _arg(lines, "ANSIBLE_INSTALL_REFS").startswith("ansible-core>=2.18")

    first, last = _stages(lines)["final"]
    requirements = f"{INSTALLED_COLLECTION}/meta/ee-requirements.txt"
    pip = _index(lines, lambda line: re.search(r"-m pip install .*-r %s$" % re.escape(requirements), line),
                 "pip-installs the collection's ee-requirements.txt")
    interpreter = re.match(r"RUN (\S+) -m pip install", lines[pip])
    assert interpreter and interpreter.group(1) == PLATFORM_PYTHON, (
        f"{lines[pip]!r}: the modules' Python packages must go to {PLATFORM_PYTHON}, which has {BINDINGS}")
    # ... in the final image, after the collection is copied in and the system packages (bindings, pip) are installed
    collection = _index(lines[first:], lambda line: line.startswith("COPY --from=galaxy /usr/share/ansible"),
                        "copies the collections into the final image")
    system = _index(lines[first:], lambda line: "install-from-bindep" in line, "installs the system packages")
    assert first + max(collection, system) < pip <= last


def test_ansible_builder_reads_the_collection_lists(ee, tmp_path):
    """ansible-builder's own introspection of the installed tarball finds the Python and system packages."""
    galaxy = ansible_runner.ansible_tool("ansible-galaxy")
    # --force: the project's ansible.cfg puts the source tree's vapor.ops on the collections path, which
    # ansible-galaxy would otherwise take for an installed copy.
    install = subprocess.run([galaxy, "collection", "install", "--force", str(ee["tarball"]), "-p", str(tmp_path)],
                             capture_output=True, text=True, timeout=TIMEOUT, cwd=str(tmp_path))
    assert install.returncode == 0, install.stdout + install.stderr
    assert (tmp_path / "ansible_collections" / "vapor" / "ops" / "meta" / "execution-environment.yml").is_file()
    proc = subprocess.run([sys.executable, "-m", "ansible_builder", "introspect", "--sanitize", str(tmp_path)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = yaml.safe_load(proc.stdout)
    python = {canonicalize_name(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group(0))
              for line in found["python"]}
    system = {line.split()[0] for line in found["system"] if "platform:%s" % EE_PLATFORM in line}
    assert python == pip_requirements()
    assert system == bindep_packages()[EE_PLATFORM]
