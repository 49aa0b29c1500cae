# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run ansible-playbook from the tests and look at the results as data.

    res = run_playbook("playbooks/site.yml", {"x": 1}, check=True, inventory=local_inventory(tmp))
    assert res.changed == 0
    assert res.task("Dump the namespace")["localhost"]["rc"] == 0

The run uses ``<repo>/.venv/bin/ansible-playbook`` (or the one on PATH), cwd = the
repository, ``ANSIBLE_CONFIG=<repo>/ansible.cfg`` and a JSON stdout callback; the
extra vars go through a JSON file (``-e @file``), so any value survives quoting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
DEFAULT_INVENTORY = REPO / "inventories" / "demo"
CALLBACK_DIR = TESTS_DIR / "callback_plugins"
# ansible-core ships no JSON stdout callback (``json`` lives in ansible.posix), so
# the tests bring their own with the same output layout.
STDOUT_CALLBACK = "vapor_json"


def ansible_tool(name: str) -> str:
    """Path of an ansible CLI (``ansible-playbook``, ``ansible``, ``ansible-doc``, ``ansible-galaxy``).

    ``VAPOR_ANSIBLE_BIN`` (a bin directory, such as the ``.venv-compat/bin`` with the oldest supported
    ansible-core that ``make test`` builds) wins; then the repository's ``.venv/bin``; then PATH.
    """
    chosen = os.environ.get("VAPOR_ANSIBLE_BIN")
    if chosen:
        cand = Path(chosen) / name
        if not cand.exists():
            raise FileNotFoundError(f"VAPOR_ANSIBLE_BIN is {chosen}, which has no {name}")
        return str(cand)
    cand = REPO / ".venv" / "bin" / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found in {cand.parent} or on PATH")
    return found


def ansible_playbook_bin() -> str:
    return ansible_tool("ansible-playbook")


def local_python() -> str:
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else shutil.which("python3") or "/usr/bin/python3"


def write_local_inventory(path: os.PathLike | str, *, hosts: Iterable[str] = ("localhost",),
                          group: str | None = None, host_vars: Mapping[str, Any] | None = None,
                          group_vars: Mapping[str, Any] | None = None,
                          python: str | None = None) -> Path:
    """Write a YAML inventory whose hosts all run locally with the repo's venv Python.

    ``host_vars`` apply to every host, ``group_vars`` to the group (default ``all``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "inventory.yml"
    hv = {"ansible_connection": "local", "ansible_python_interpreter": python or local_python(),
          **(host_vars or {})}
    hostmap = {h: dict(hv) for h in hosts}
    if group:
        inv = {"all": {"children": {group: {"hosts": hostmap, "vars": dict(group_vars or {})}}}}
    else:
        inv = {"all": {"hosts": hostmap, "vars": dict(group_vars or {})}}
    # JSON is valid YAML: no PyYAML dependency, no quoting surprises.
    path.write_text(json.dumps(inv, indent=2))
    return path


@dataclass
class PlaybookResult:
    """Outcome of one ansible-playbook run."""

    cmd: list[str]
    rc: int
    stdout: str
    stderr: str
    json: dict | None
    extra_vars: dict = field(default_factory=dict)

    # -- summary ---------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        return (self.json or {}).get("stats", {})

    @property
    def changed(self) -> int:
        """Total number of changed task results over all hosts."""
        return sum(s.get("changed", 0) for s in self.stats.values())

    @property
    def failures(self) -> int:
        return sum(s.get("failures", 0) + s.get("unreachable", 0) for s in self.stats.values())

    @property
    def failed(self) -> bool:
        return self.rc != 0 or self.failures > 0

    @property
    def plays(self) -> list[dict]:
        return (self.json or {}).get("plays", [])

    # -- task results ------------------------------------------------------------------

    def tasks(self, name: str | None = None) -> list[dict]:
        """Task entries (``{"task": {...}, "hosts": {host: result}}``), optionally by name.

        A name matches the full task name or its part after ``role : ``.
        """
        out = []
        for play in self.plays:
            for t in play.get("tasks", []):
                tn = t["task"]["name"]
                if name is None or tn == name or tn.split(" : ", 1)[-1] == name:
                    out.append(t)
        return out

    def task(self, name: str, index: int = -1) -> dict[str, dict]:
        """Per-host results of the task called ``name`` (the last run of it by default)."""
        found = self.tasks(name)
        if not found:
            names = [t["task"]["name"] for t in self.tasks()]
            raise KeyError(f"no task named {name!r} in the run; tasks were: {names}")
        return found[index]["hosts"]

    def result(self, name: str, host: str | None = None, index: int = -1) -> dict:
        """The result of task ``name`` on ``host`` (the only host if there is one)."""
        hosts = self.task(name, index)
        if host is None:
            if len(hosts) != 1:
                raise KeyError(f"task {name!r} ran on {sorted(hosts)}; pass host=")
            return next(iter(hosts.values()))
        return hosts[host]

    def failed_results(self) -> list[tuple[str, str, dict]]:
        """(task name, host, result) for every failed or unreachable result not ignored."""
        out = []
        for t in self.tasks():
            for host, r in t["hosts"].items():
                if r.get("_status") in ("failed", "unreachable") and not r.get("ignore_errors"):
                    out.append((t["task"]["name"], host, r))
        return out

    def explain(self) -> str:
        """Human-readable digest for assertion messages."""
        lines = [f"$ {' '.join(self.cmd)}", f"rc={self.rc} stats={self.stats}"]
        for name, host, r in self.failed_results():
            lines.append(f"FAILED {name!r} on {host}: {r.get('msg')!r}")
            for key in ("stderr", "module_stderr", "exception"):
                if r.get(key):
                    lines.append(f"  {key}: {str(r[key])[-2000:]}")
        if self.json is None:
            lines.append("stdout (not JSON):\n" + self.stdout[-4000:])
        if self.stderr.strip():
            lines.append("stderr:\n" + self.stderr[-4000:])
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<PlaybookResult rc={self.rc} changed={self.changed} failed={self.failed}>"


def _parse_json(stdout: str) -> dict | None:
    try:
        return json.loads(stdout)
    except ValueError:
        pass
    # tolerate stray lines before the document (e.g. a plugin printing to stdout)
    start = stdout.find("{\n")
    if start >= 0:
        try:
            return json.loads(stdout[start:])
        except ValueError:
            return None
    return None


def run_playbook(playbook: os.PathLike | str, extra_vars: Mapping[str, Any] | None = None, *,
                 check: bool = False, diff: bool = False,
                 inventory: os.PathLike | str | None = None, expect_failure: bool = False,
                 limit: str | None = None, tags: str | None = None, verbosity: int = 0,
                 env: Mapping[str, str] | None = None, timeout: float = 900,
                 args: Iterable[str] = ()) -> PlaybookResult:
    """Run ``ansible-playbook`` on ``playbook`` (relative to the repository or absolute).

    ``inventory``: a path, or ``"local"`` for a temporary localhost-only inventory
    (default ``<repo>/inventories/demo``).  Raises ``AssertionError`` (with a digest of
    the run) if the run failed and ``expect_failure`` is false, or succeeded while
    ``expect_failure`` is true.
    """
    pb = Path(playbook)
    if not pb.is_absolute():
        pb = REPO / pb
    with tempfile.TemporaryDirectory(prefix="vapor-pb-") as tmp:
        if inventory == "local":
            inv = write_local_inventory(Path(tmp) / "inventory.yml")
        else:
            inv = Path(inventory) if inventory is not None else DEFAULT_INVENTORY
            if not inv.is_absolute():
                inv = REPO / inv
        ev_file = Path(tmp) / "extra_vars.json"
        ev = dict(extra_vars or {})
        ev_file.write_text(json.dumps(ev))
        cmd = [ansible_playbook_bin(), "-i", str(inv), "-e", f"@{ev_file}", str(pb)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if limit:
            cmd += ["--limit", limit]
        if tags:
            cmd += ["--tags", tags]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        cmd += list(args)
        run_env = dict(os.environ)
        run_env.update({
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": STDOUT_CALLBACK,
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(Path(tmp) / "ansible-local"),
            # not ~/.ansible/tmp: the user running the tests may have no usable home
            "ANSIBLE_REMOTE_TEMP": str(Path(tmp) / "ansible-remote"),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        venv_bin = str(REPO / ".venv" / "bin")
        run_env["PATH"] = venv_bin + os.pathsep + run_env.get("PATH", "/usr/bin:/bin")
        run_env.update(env or {})
        proc = subprocess.run(cmd, cwd=REPO, env=run_env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    res = PlaybookResult(cmd=cmd, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                         json=_parse_json(proc.stdout), extra_vars=ev)
    if expect_failure and not res.failed:
        raise AssertionError("the playbook was expected to fail but succeeded\n" + res.explain())
    if not expect_failure and res.failed:
        raise AssertionError("the playbook failed\n" + res.explain())
    if res.json is None and not expect_failure:
        raise AssertionError("the playbook printed no JSON document\n" + res.explain())
    return res
