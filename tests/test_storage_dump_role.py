# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The vapor.ops.storage_dump role, end to end, through playbooks/storage_dump_schedule.yml.

Each scenario applies the role to localhost with every path (install dir, config dir, dump
directory, systemd unit directory, cron directory, runner link) inside a pytest temporary
directory: check mode (reports changes, writes nothing), a real run, a second run (no change), then
runs the installed runner as the scheduler would and compares its dump with the one the
vapor.ops.se_dump module makes from the same parameters, then ``state: absent`` twice.

systemd is not PID 1 here, so the systemd scenario renders the units with
storage_dump_systemd_manage=false (no systemctl) and checks them with ``systemd-analyze verify``
when it is installed. Playbook results are read with the tests' JSON stdout callback
(tests/callback_plugins/vapor_json.py): ``stats`` per host (changed, failures).
"""

from __future__ import annotations

import ast
import fcntl
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
ROLE = COLLECTION / "roles" / "storage_dump"
CORE = COLLECTION / "plugins" / "module_utils"
PLAYBOOK = REPO / "playbooks" / "storage_dump_schedule.yml"
CALLBACKS = REPO / "tests" / "callback_plugins"
VENV_PYTHON = str(REPO / ".venv" / "bin" / "python")
TIMEOUT = 300
SECRET = "S3cr3t-vapor-pw-4711"
IS_ROOT = os.geteuid() == 0
# the interpreter the scheduled runner uses on the node (the role's default), else this one
NODE_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def _tool(name):
    try:
        return ansible_runner.ansible_tool(name)
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def _env():
    env = dict(os.environ)
    env.update(
        ANSIBLE_STDOUT_CALLBACK="vapor_json",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    env.pop("ANSIBLE_CONFIG", None)  # the repository's ansible.cfg (collections_path, roles_path)
    return env


def _json_output(proc, argv):
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"{' '.join(argv)} did not print JSON (exit {proc.returncode})\n--- stdout\n{proc.stdout}"
                    f"\n--- stderr\n{proc.stderr}")


class Run:
    def __init__(self, argv, proc, doc):
        self.argv, self.proc, self.doc = argv, proc, doc
        self.stats = doc["stats"]["localhost"]
        self.changed = self.stats["changed"]
        self.failures = self.stats["failures"] + self.stats["unreachable"]
        self.text = proc.stdout + proc.stderr

    def failed_tasks(self):
        out = []
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                for res in task["hosts"].values():
                    if res.get("_status") == "failed" and not res.get("ignore_errors"):
                        out.append(f"{task['task']['name']}: {res.get('msg')}")
        return out

    def changed_tasks(self):
        out = []
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                for res in task["hosts"].values():
                    if res.get("changed"):
                        out.append(task["task"]["name"])
        return out


def playbook(inventory, extra_vars, tmp, check=False, diff=True, expect_ok=True):
    """ansible-playbook playbooks/storage_dump_schedule.yml with the vars as one extra-vars JSON file."""
    vars_file = tmp / "extra_vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    argv = [_tool("ansible-playbook"), "-i", str(inventory), str(PLAYBOOK), "-e", f"@{vars_file}"]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    run = Run(argv, proc, _json_output(proc, argv))
    if expect_ok:
        assert proc.returncode == 0 and run.failures == 0, (
            f"{' '.join(argv)} failed: {run.failed_tasks()}\n--- stderr\n{proc.stderr[-4000:]}")
    # the database password never shows, whatever the run printed (diff mode included)
    assert SECRET not in run.text
    return run


def module_dump(inventory, params, check=False):
    """The vapor.ops.se_dump module itself (ad-hoc), with the same parameters the runner reads."""
    argv = [_tool("ansible"), "localhost", "-i", str(inventory), "-m", "vapor.ops.se_dump", "-a", json.dumps(params)]
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    doc = _json_output(proc, argv)
    result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert proc.returncode == 0 and not result.get("failed"), f"se_dump module failed: {result.get('msg')}"
    return result


def runner(cmd, *args, user=None, group=None):
    proc = subprocess.run(list(cmd) + list(args), capture_output=True, text=True, timeout=TIMEOUT,
                          user=user, group=group, cwd="/")
    return proc


def tree(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*")) if Path(path).exists() else []


def seed(root):
    """A small storage area: a few VO directories, so the posix scan forks workers."""
    files = {
        "atlas/rucio/data18/aa/bb/file_%d.root": 6,
        "atlas/rucio/mc16/cc/dd/evnt_%d.pool": 5,
        "atlas/rucio/user/jdoe/ee/ff/out_%d.log": 4,
        "atlas/rucio/group/perf/gg/hh/ntuple_%d.root": 3,
    }
    n = 0
    for pattern, count in files.items():
        for i in range(count):
            p = root / (pattern % i)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(os.urandom(64 + 97 * i))
            mtime = 1_700_000_000 + 3600 * n
            os.utime(p, (mtime, mtime))
            n += 1
    (root / "atlas/rucio/.tmp").mkdir(parents=True, exist_ok=True)
    (root / "atlas/rucio/.tmp/partial.part").write_bytes(b"x")
    return n


def node_paths(base):
    return {
        "install": base / "node" / "usr/local/lib/vapor-ops",
        "config": base / "node" / "etc/vapor-ops",
        "link": base / "node" / "usr/local/bin/vapor-se-dump",
        "systemd": base / "node" / "etc/systemd/system",
        "cron": base / "node" / "etc/cron.d",
        "dest": base / "storage" / "atlas" / "dumps",
        "storage": base / "storage",
    }


def role_vars(paths, scheduler, instance="default", **extra):
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    v = {
        "storage_dump_become": False,
        "storage_dump_instance": instance,
        "storage_dump_user": user,
        "storage_dump_group": group,
        "storage_dump_create_user": False,
        "storage_dump_scheduler": scheduler,
        "storage_dump_systemd_manage": False,
        "storage_dump_python": NODE_PYTHON,
        "storage_dump_install_dir": str(paths["install"]),
        "storage_dump_config_dir": str(paths["config"]),
        "storage_dump_runner_link": str(paths["link"]),
        "storage_dump_systemd_dir": str(paths["systemd"]),
        "storage_dump_cron_dir": str(paths["cron"]),
        "storage_dump_dest": str(paths["dest"]),
        "storage_dump_roots": [str(paths["storage"] / "atlas" / "rucio")],
        "storage_dump_strip_prefix": str(paths["storage"] / "atlas"),
        "storage_dump_ignore": ["/\\.tmp/"],
        "storage_dump_format": "cms",
        "storage_dump_checksum": "adler32",
        "storage_dump_compression": "gzip",
        "storage_dump_keep": 3,
        "storage_dump_workers": 2,
        # not used by the posix source, but it must reach the config file and never the output
        "storage_dump_db": {"user": "dump_reader", "password": SECRET},
        "storage_dump_on_calendar": "*-*-* 03:15:00",
        "storage_dump_randomized_delay": 0,
        "storage_dump_cron_minute": "15",
        "storage_dump_cron_hour": "3",
        # each scheduled run keeps its progress record there, for a site admin watching a long run
        "storage_dump_progress_file": str(paths["storage"] / "progress.json"),
    }
    v.update(extra)
    return v


def expected_params(v):
    """What the config file must hold: every se_dump option, null where unset."""
    return {
        "source": "posix", "url": None, "db": v["storage_dump_db"], "roots": v["storage_dump_roots"],
        "ignore": v["storage_dump_ignore"], "min_age": "0", "strip_prefix": v["storage_dump_strip_prefix"],
        "add_prefix": None, "format": v["storage_dump_format"], "compression": v["storage_dump_compression"],
        "compression_suffix": True, "dest": v["storage_dump_dest"], "name": "dump_%Y%m%d",
        "keep": v["storage_dump_keep"], "min_files": 1, "latest_link": "latest",
        "workers": v["storage_dump_workers"], "timeout": 300, "retries": 3, "max_errors": 0,
        "checksum": v["storage_dump_checksum"], "mode": "0644", "vo": None, "listing_budget": 500000,
        "progress_file": v.get("storage_dump_progress_file"), "progress_interval": 2.0,
    }


@pytest.fixture
def inventory(tmp_path):
    inv = tmp_path / "inventory.ini"
    inv.write_text(
        "[storage]\n"
        f"localhost ansible_connection=local ansible_python_interpreter={VENV_PYTHON if Path(VENV_PYTHON).exists() else sys.executable} ansible_become=false\n"
    )
    return inv


def _node_files(paths):
    return {k: tree(paths[k]) for k in ("install", "config", "systemd", "cron")} | {
        "link": paths["link"].exists() or paths["link"].is_symlink(), "dest": paths["dest"].exists()}


def _scheduled_command(paths, scheduler, instance):
    """The command line the scheduler would run, from the rendered cron entry or unit."""
    if scheduler == "cron":
        lines = [ln for ln in (paths["cron"] / f"vapor-se-dump-{instance}").read_text().splitlines()
                 if ln and not ln.startswith("#") and "=" not in ln.split()[0]]
        assert len(lines) == 1, lines
        fields = lines[0].split(None, 6)
        return fields[5], shlex.split(fields[6])
    unit = (paths["systemd"] / "vapor-se-dump@.service").read_text()
    (execstart,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    dropin = (paths["systemd"] / f"vapor-se-dump@{instance}.service.d" / "vapor-ops.conf").read_text()
    (user,) = re.findall(r"^User=(.*)$", dropin, re.M)
    return user, shlex.split(execstart.replace("%i", instance))


# ------------------------------------------------------------------------------------------------
# the core the role ships is exactly what _se_dump needs, and none of it imports Ansible
# ------------------------------------------------------------------------------------------------


def test_core_file_list_is_closed_under_imports():
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__storage_dump_core_files"]
    prefix = "ansible_collections.vapor.ops.plugins.module_utils."
    needed, todo = set(), ["_storage.se_dump"]
    while todo:
        name = todo.pop()
        path = CORE / (name.replace(".", "/") + ".py")
        if name in needed or not path.is_file():
            # a package (its __init__.py is written empty by the role) or a name imported from a module
            assert name in needed or (CORE / name.replace(".", "/") / "__init__.py").is_file() \
                or (CORE / (name.rsplit(".", 1)[0].replace(".", "/") + ".py")).is_file(), name
            continue
        needed.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for mod in mods:
                assert not (mod == "ansible" or mod.startswith("ansible.")), f"{path} imports {mod}"
                if mod.startswith(prefix):
                    todo.append(mod[len(prefix):])
    assert sorted(n.replace(".", "/") + ".py" for n in needed) == sorted(listed)
    # the packages the role makes importable hold no code of their own
    for pkg in {n.rsplit(".", 1)[0] for n in needed if "." in n}:
        assert (CORE / pkg / "__init__.py").read_text() == "", pkg


# ------------------------------------------------------------------------------------------------
# the whole life of one scheduled dump, with cron and with systemd
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["cron", pytest.param("systemd", marks=pytest.mark.compat)])
def test_storage_dump_role_lifecycle(scheduler, tmp_path, inventory):
    paths = node_paths(tmp_path)
    nfiles = seed(paths["storage"])
    paths["link"].parent.mkdir(parents=True)  # /usr/local/bin exists on a node
    v = role_vars(paths, scheduler)
    config = paths["config"] / "storage_dump_default.json"
    runner_path = paths["install"] / "bin" / "vapor-se-dump"

    # 1. check mode: changes are announced, nothing is written
    before = _node_files(paths)
    check = playbook(inventory, v, tmp_path, check=True)
    assert check.changed > 0, check.changed_tasks()
    assert _node_files(paths) == before
    assert not paths["install"].exists() and not paths["config"].exists() and not paths["dest"].exists()

    # 2. the real run
    real = playbook(inventory, v, tmp_path)
    assert real.changed > 0
    # runner, core copy, package path, version record, link
    assert runner_path.is_file() and os.access(runner_path, os.X_OK)
    shebang, _, body = runner_path.read_bytes().partition(b"\n")
    assert shebang == b"#!" + NODE_PYTHON.encode()  # the interpreter of the scheduled runs, for runs by hand
    assert body == (ROLE / "files" / "vapor-se-dump").read_bytes().partition(b"\n")[2]
    core_dest = paths["install"] / "ansible_collections/vapor/ops/plugins/module_utils"
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__storage_dump_core_files"]
    for name in listed:
        assert (core_dest / name).read_bytes() == (CORE / name).read_bytes(), name
    for pkg in ("ansible_collections", "ansible_collections/vapor", "ansible_collections/vapor/ops",
                "ansible_collections/vapor/ops/plugins", "ansible_collections/vapor/ops/plugins/module_utils"):
        assert (paths["install"] / pkg / "__init__.py").is_file(), pkg
    record = json.loads((paths["install"] / "vapor-ops-version.json").read_text())
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert record["collection"] == "vapor.ops" and record["version"] == galaxy["version"]
    assert sorted(record["files"]) == sorted(listed)
    assert paths["link"].is_symlink() and paths["link"].resolve() == runner_path.resolve()
    # the configuration holds exactly the se_dump parameters; mode 0600, owned by the run user
    assert json.loads(config.read_text()) == expected_params(v)
    st = config.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert pwd.getpwuid(st.st_uid).pw_name == v["storage_dump_user"]
    assert grp.getgrgid(st.st_gid).gr_name == v["storage_dump_group"]
    # the dump directory
    assert paths["dest"].is_dir() and stat.S_IMODE(paths["dest"].stat().st_mode) == 0o755
    assert list(paths["dest"].iterdir()) == []
    # the schedule
    if scheduler == "cron":
        cron = (paths["cron"] / "vapor-se-dump-default").read_text()
        assert stat.S_IMODE((paths["cron"] / "vapor-se-dump-default").stat().st_mode) == 0o644
        assert cron.endswith("\n") and not cron.endswith("\n\n")
        assert re.search(r"^15 3 \* \* \* %s nice -n 10 ionice -c 3 %s %s --config %s --quiet --syslog$"
                         % (re.escape(v["storage_dump_user"]), re.escape(NODE_PYTHON), re.escape(str(runner_path)),
                            re.escape(str(config))), cron, re.M), cron
        assert tree(paths["systemd"]) == []
    else:
        unit = (paths["systemd"] / "vapor-se-dump@.service").read_text()
        for line in ("Type=oneshot", "Nice=10", "IOSchedulingClass=idle",
                     f"ExecStart={NODE_PYTHON} {runner_path} --config {paths['config']}/storage_dump_%i.json"):
            assert f"\n{line}\n" in unit, line
        timer = (paths["systemd"] / "vapor-se-dump-default.timer").read_text()
        for line in ("OnCalendar=*-*-* 03:15:00", "RandomizedDelaySec=0", "Persistent=true",
                     "Unit=vapor-se-dump@default.service", "WantedBy=timers.target"):
            assert f"\n{line}\n" in timer, line
        dropin = (paths["systemd"] / "vapor-se-dump@default.service.d" / "vapor-ops.conf").read_text()
        assert f"\nUser={v['storage_dump_user']}\n" in dropin and f"\nGroup={v['storage_dump_group']}\n" in dropin
        assert not paths["cron"].exists()
        analyze = shutil.which("systemd-analyze")
        if analyze:
            proc = subprocess.run(
                [analyze, "verify", "--man=no", str(paths["systemd"] / "vapor-se-dump-default.timer"),
                 "vapor-se-dump@default.service"],
                env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{paths['systemd']}:"), capture_output=True, text=True,
                timeout=60)
            assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), proc.stderr

    # 3. a second run changes nothing
    again = playbook(inventory, v, tmp_path)
    assert again.changed == 0, again.changed_tasks()
    if scheduler == "cron":  # ... nor does a check-mode run now
        assert playbook(inventory, v, tmp_path, check=True).changed == 0

    # 4. the runner, as the scheduler starts it: first --check (writes nothing), then for real
    user, cmd = _scheduled_command(paths, scheduler, "default")
    assert user == v["storage_dump_user"]
    if scheduler == "cron":
        # nice -n 10 ionice -c 3 <python> <runner> --config <file> --quiet --syslog
        assert cmd[:5] == ["nice", "-n", "10", "ionice", "-c"] and "--quiet" in cmd
        base_cmd = cmd[6:cmd.index("--config")]
    else:
        base_cmd = cmd[:cmd.index("--config")]
    assert base_cmd == [NODE_PYTHON, str(runner_path)]
    proc = runner(base_cmd, "--config", str(config), "--check")
    assert proc.returncode == 0, proc.stderr
    checked = json.loads(proc.stdout)
    assert checked["check_mode"] is True and checked["published"] is True and checked["files"] == nfiles
    assert list(paths["dest"].iterdir()) == []
    assert len(proc.stderr.strip().splitlines()) == 1 and "would be published" in proc.stderr

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd="/")  # the exact scheduled line
    assert proc.returncode == 0, proc.stderr
    if scheduler == "cron":
        assert proc.stdout == "" and proc.stderr == ""  # --quiet: cron mails nothing on success
    else:  # the journal gets the result as one JSON line and a one-line summary
        assert json.loads(proc.stdout)["published"] is True
        assert len(proc.stderr.strip().splitlines()) == 1 and " published in " in proc.stderr
    dumps = sorted(p.name for p in paths["dest"].iterdir())
    assert len(dumps) == 2 and "latest" in dumps, dumps
    (dump_name,) = [d for d in dumps if d != "latest"]
    assert re.match(r"^dump_\d{8}\.gz$", dump_name)
    # the scheduled run left its progress record, finished, with every entry it looked at (one was ignored)
    record = json.loads((paths["storage"] / "progress.json").read_text())
    assert record["finished"] is True and record["job"] == "se_dump" and record["unit"] == "files"
    assert record["done"] == nfiles + 1 and record["stage"].startswith("scanning ")
    scheduled_bytes = (paths["dest"] / dump_name).read_bytes()

    proc = runner(base_cmd, "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["published"] is False and result["files"] == nfiles and result["excluded"]["ignored"] == 1
    assert proc.stderr.strip().count("\n") == 0 and "unchanged" in proc.stderr
    assert (paths["dest"] / dump_name).read_bytes() == scheduled_bytes

    # 5. the module with the same parameters makes the same dump: in the same directory it finds
    #    nothing to publish; in another directory it writes the same bytes
    params = json.loads(config.read_text())
    same_dir = module_dump(inventory, params)
    assert same_dir["changed"] is False and same_dir["published"] is False
    assert same_dir["files"] == result["files"] and same_dir["bytes"] == result["bytes"]
    other = tmp_path / "module-dumps"
    other.mkdir()
    mod = module_dump(inventory, dict(params, dest=str(other)))
    assert mod["published"] is True and mod["name"] == dump_name
    assert (other / dump_name).read_bytes() == scheduled_bytes
    for key in ("files", "bytes", "excluded", "format", "compression", "source", "errors"):
        assert mod[key] == result[key], key

    # 6. two runs of one instance never overlap: the lock is the configuration file
    with open(config, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = runner(base_cmd, "--config", str(config))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "still going" in proc.stderr

    # 7. a wrong configuration (a root that does not exist): exit 1, one line, nothing published
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(params, roots=[str(paths["storage"] / "nowhere")])))
    proc = runner(base_cmd, "--config", str(bad))
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vapor-se-dump: ") and "nowhere" in err[0], proc.stderr
    assert json.loads(proc.stdout)["failed"] is True
    assert sorted(p.name for p in paths["dest"].iterdir()) == dumps
    # bad usage: a missing file, an unknown parameter, an unknown option -> exit 2
    assert runner(base_cmd, "--config", str(tmp_path / "missing.json")).returncode == 2
    bad.write_text(json.dumps(dict(params, rootz=["/x"])))
    proc = runner(base_cmd, "--config", str(bad))
    assert proc.returncode == 2 and "rootz" in proc.stderr
    assert runner(base_cmd, "--frobnicate").returncode == 2
    proc = runner([str(paths["link"])], "--version")  # through the link and the shebang, as an admin would
    assert proc.returncode == 0 and proc.stdout.strip() == galaxy["version"]

    # 8. a second instance on the same node shares the install and (systemd) the template unit; it is
    #    first set up with the other scheduler, and switching removes the other scheduler's files
    other_scheduler = "systemd" if scheduler == "cron" else "cron"
    v2 = role_vars(paths, other_scheduler, instance="cms", storage_dump_format="text",
                   storage_dump_name="cms_%Y%m%d", storage_dump_db=None)
    assert playbook(inventory, v2, tmp_path).changed > 0
    cms_cron = paths["cron"] / "vapor-se-dump-cms"
    cms_timer = paths["systemd"] / "vapor-se-dump-cms.timer"
    assert (cms_cron if other_scheduler == "cron" else cms_timer).is_file()
    v2["storage_dump_scheduler"] = scheduler
    switched = playbook(inventory, v2, tmp_path)
    assert switched.changed > 0
    assert (cms_cron if scheduler == "cron" else cms_timer).is_file()
    assert not (cms_timer if scheduler == "cron" else cms_cron).exists()
    assert not (paths["systemd"] / "vapor-se-dump@cms.service.d").exists() or scheduler == "systemd"
    if scheduler == "cron":  # no timer left: the template unit went too
        assert tree(paths["systemd"]) == []
    assert (paths["config"] / "storage_dump_cms.json").is_file()

    # 9. state: absent -- check mode first, then for real, then again (no change)
    gone = dict(v, storage_dump_state="absent")
    snapshot = _node_files(paths)
    assert playbook(inventory, gone, tmp_path, check=True).changed > 0
    assert _node_files(paths) == snapshot
    removed = playbook(inventory, gone, tmp_path)
    assert removed.changed > 0
    assert not config.exists()
    assert not (paths["cron"] / "vapor-se-dump-default").exists()
    assert not (paths["systemd"] / "vapor-se-dump-default.timer").exists()
    assert not (paths["systemd"] / "vapor-se-dump@default.service.d").exists()
    if scheduler == "systemd":  # still used by the other instance
        assert (paths["systemd"] / "vapor-se-dump@.service").is_file()
    # the dumps and the dump directory stay; so does the other instance
    assert sorted(p.name for p in paths["dest"].iterdir()) == dumps
    assert (paths["dest"] / dump_name).read_bytes() == scheduled_bytes
    assert (paths["config"] / "storage_dump_cms.json").is_file()
    assert playbook(inventory, gone, tmp_path).changed == 0

    # the last instance goes: the template unit goes with it
    gone2 = dict(v2, storage_dump_state="absent")
    assert playbook(inventory, gone2, tmp_path).changed > 0
    assert tree(paths["systemd"]) == []
    assert tree(paths["config"]) == []
    assert not paths["cron"].exists() or tree(paths["cron"]) == []
    assert playbook(inventory, gone2, tmp_path).changed == 0
    assert (paths["dest"] / dump_name).is_file()


@pytest.mark.compat
def test_bad_settings_fail_clearly(tmp_path, inventory):
    paths = node_paths(tmp_path)
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_instance="bad name"), tmp_path, expect_ok=False)
    assert run.proc.returncode != 0 and any("may hold only letters" in t for t in run.failed_tasks())
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_dest="relative/dumps"), tmp_path,
                   expect_ok=False)
    assert run.failures and "must be the absolute path of the dump directory" in run.text
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_format="xml"), tmp_path, expect_ok=False)
    assert run.proc.returncode != 0 and "storage_dump_format" in run.text
    run = playbook(inventory, role_vars(paths, "systemd", storage_dump_systemd_manage=True), tmp_path,
                   expect_ok=False) if _service_mgr_is_not_systemd() else None
    if run is not None:
        assert any("does not run systemd" in t for t in run.failed_tasks())
    assert not paths["install"].exists() and not paths["config"].exists()


def _service_mgr_is_not_systemd():
    return not Path("/run/systemd/system").is_dir()


# ------------------------------------------------------------------------------------------------
# a real system user, created by the role, runs the dump (root only; the user is removed after)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def system_user():
    name = "vapordump_t%d" % (os.getpid() % 100000)
    yield name
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture
def open_tmp():
    """A temporary directory the unprivileged user can traverse (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="vapor-storage-dump-", dir=os.environ.get("VAPOR_TEST_TMPDIR", "/tmp")))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="creating a system user needs root")
def test_created_system_user_runs_the_dump(tmp_path, inventory, system_user, open_tmp):
    base = open_tmp
    paths = node_paths(base)
    nfiles = seed(paths["storage"])
    for d in [paths["storage"], *paths["storage"].rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    paths["link"].parent.mkdir(parents=True)
    v = role_vars(paths, "cron", storage_dump_user=system_user, storage_dump_group=system_user,
                  storage_dump_create_user=True)

    assert playbook(inventory, v, tmp_path, check=True).changed > 0
    with pytest.raises(KeyError):
        pwd.getpwnam(system_user)
    assert playbook(inventory, v, tmp_path).changed > 0
    pw = pwd.getpwnam(system_user)
    assert pw.pw_shell.endswith("nologin") and pw.pw_uid < 1000

    config = paths["config"] / "storage_dump_default.json"
    assert config.stat().st_uid == pw.pw_uid and stat.S_IMODE(config.stat().st_mode) == 0o600
    assert paths["dest"].stat().st_uid == pw.pw_uid
    user, cmd = _scheduled_command(paths, "cron", "default")
    assert user == system_user
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd="/",
                          user=system_user, group=system_user)
    assert proc.returncode == 0, proc.stderr
    (dump,) = [p for p in paths["dest"].iterdir() if p.name != "latest"]
    assert dump.stat().st_uid == pw.pw_uid
    result = json.loads(runner(cmd[6:cmd.index("--config")], "--config", str(config), "--check",
                               user=system_user, group=system_user).stdout)
    assert result["files"] == nfiles and result["published"] is False

    gone = dict(v, storage_dump_state="absent")
    assert playbook(inventory, gone, tmp_path).changed > 0
    assert not config.exists() and dump.is_file()
    pwd.getpwnam(system_user)  # absent leaves the user: it may own the dumps and other data


def test_settings_are_checked_by_the_core(tmp_path, inventory):
    """The role asks the installed runner (--check-config: the core's validate) before it writes the
    configuration, so a wrong se_dump setting fails with the core's own sentence and no schedule reads it."""
    paths = node_paths(tmp_path)
    paths["link"].parent.mkdir(parents=True)  # /usr/local/bin exists on a node
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_source="xrootd", storage_dump_db=None), tmp_path,
                   expect_ok=False)
    assert run.proc.returncode != 0
    assert any("The xrootd source needs the server URL (url), such as root://host:1094." in t
               for t in run.failed_tasks()), run.failed_tasks()
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_roots=[]), tmp_path, expect_ok=False)
    assert any("The posix source needs at least one root directory (roots)." in t for t in run.failed_tasks())
    # the secret of the db settings stays out of the output (playbook() checks), the sentence does not
    run = playbook(inventory, role_vars(paths, "cron", storage_dump_source="dpm", storage_dump_db={}), tmp_path,
                   expect_ok=False)
    assert any("The dpm source needs the database connection settings (db)." in t for t in run.failed_tasks())
    assert not paths["config"].exists() and not paths["cron"].exists()
