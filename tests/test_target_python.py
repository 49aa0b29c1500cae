# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Node-side code on the oldest target Python (3.9, EL9's platform Python), through ansible-playbook.

The target interpreter is a small wrapper that logs each call and runs ``python3.9 -S``: the standard library only,
whatever the machine's Python 3.9 has installed, as on a storage node that has nothing but the platform Python. A
POSIX storage dump needs nothing more:

- playbooks/storage_dump.yml runs the vapor.ops.se_dump module with it (publish, then no change);
- the vapor.ops.storage_dump role, applied with it as the target interpreter and as ``storage_dump_python``,
  installs the runner, whose scheduled command line makes and publishes the dump, and a second run finds it
  unchanged.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest

import ansible_runner
import matrix
from test_storage_dump_role import _scheduled_command, node_paths, playbook, role_vars, runner, seed

OLDEST = matrix.target_pythons()[0]


def _find_python(version):
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(pyenv, "versions", version + ".*", "bin", "python" + version)))
    return found[-1] if found else shutil.which("python" + version)


PYTHON = _find_python(OLDEST)
pytestmark = pytest.mark.skipif(PYTHON is None, reason="Python %s is not on this machine" % OLDEST)


@pytest.fixture
def target_python(tmp_path):
    """(wrapper path, log path): the wrapper runs the oldest target Python with no site-packages."""
    log = tmp_path / "target-python.log"
    wrapper = tmp_path / "bin" / ("python%s-stdlib" % OLDEST)
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s"\nexec "%s" -S "$@"\n' % (log, PYTHON))
    wrapper.chmod(0o755)
    proc = subprocess.run([str(wrapper), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == OLDEST, proc
    log.write_text("")
    return wrapper, log


def _calls(log):
    return [line for line in log.read_text().splitlines() if line.strip()]


@pytest.mark.compat
def test_storage_dump_playbook_on_the_oldest_target_python(tmp_path, run_playbook, target_python):
    wrapper, log = target_python
    root = tmp_path / "storage" / "atlas" / "rucio"
    nfiles = seed(tmp_path / "storage")
    dest = tmp_path / "dumps"
    dest.mkdir()
    inv = ansible_runner.write_local_inventory(tmp_path / "inv.yml", group="storage", python=str(wrapper))
    extra = {"storage_dump_source": "posix", "storage_dump_roots": [str(root)], "storage_dump_strip_prefix": str(root),
             "storage_dump_dest": str(dest), "storage_dump_format": "text", "storage_dump_compression": "gzip",
             "storage_dump_checksum": "adler32", "storage_dump_ignore": ["/\\.tmp/"]}
    task = "Scan the storage element and publish the dump"

    first = run_playbook("playbooks/storage_dump.yml", extra, inventory=inv)
    assert first.changed == 1, first.explain()
    res = first.result(task)
    assert res["published"] and res["files"] == nfiles and res["excluded"]["ignored"] == 1, res
    assert os.path.isfile(res["dump"]) and os.readlink(dest / "latest") == res["name"]
    assert _calls(log), "the module did not run with the wrapper of Python %s" % OLDEST

    again = run_playbook("playbooks/storage_dump.yml", extra, inventory=inv)
    assert again.changed == 0, again.explain()
    assert not again.result(task)["published"]
    assert sorted(p.name for p in dest.iterdir()) == sorted([res["name"], "latest"])


def test_storage_dump_role_runner_on_the_oldest_target_python(tmp_path, target_python):
    wrapper, log = target_python
    paths = node_paths(tmp_path)
    nfiles = seed(paths["storage"])
    paths["link"].parent.mkdir(parents=True)
    inv = tmp_path / "inventory.ini"
    inv.write_text("[storage]\nlocalhost ansible_connection=local ansible_python_interpreter=%s ansible_become=false\n"
                   % wrapper)
    v = role_vars(paths, "cron", storage_dump_python=str(wrapper))

    assert playbook(inv, v, tmp_path).changed > 0
    assert playbook(inv, v, tmp_path).changed == 0
    checks = [c for c in _calls(log) if "vapor-se-dump" in c and "--check-config" in c]
    assert checks, "the role did not check its settings with the runner on Python %s" % OLDEST

    # the exact scheduled line, then the runner again: the dump is published once
    _user, cmd = _scheduled_command(paths, "cron", "default")
    assert str(wrapper) in cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc
    dumps = sorted(p.name for p in paths["dest"].iterdir())
    assert len(dumps) == 2 and "latest" in dumps, dumps
    proc = runner(cmd[6:cmd.index("--config")], "--config", str(paths["config"] / "storage_dump_default.json"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["published"] is False and result["files"] == nfiles, result
    runs = [c for c in _calls(log) if "vapor-se-dump" in c and "--check-config" not in c]
    assert len(runs) == 2, runs
