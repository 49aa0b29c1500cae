# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The vapor.ops.pakiti_client role, end to end, through playbooks/pakiti_client.yml on localhost.

Each scenario applies the role with every path (install dir, config dir, var dir, systemd unit directory, cron
directory, runner link) inside a temporary directory the run user can traverse, next to the files of an existing
local Pakiti client (/etc/pakiti-client.cfg, /etc/pakiti/client.conf, /etc/cron.d/pakiti-client,
pakiti-client.service), which must stay byte for byte as they were: check mode (reports changes, writes nothing), a
real run, a second run and a second check (no change); then the installed runner, started as the scheduler starts
it, as the run user, sends a report to a local HTTPS Pakiti collector (tests/pakiti_collector.py, test CA) that is
byte for byte the one the vapor.ops.package_report module sends with the same settings; then ``state: absent``
(check, real, again) leaves nothing of the role behind.

Run as root (as ``make test`` does here) the role creates a system user for the reports, and removes it on
``absent``; otherwise the tests's own user runs them. systemd is not PID 1 here, so the systemd scenario writes the
units with pakiti_client_systemd_manage=false and checks them with ``systemd-analyze verify`` when it is installed.
"""

from __future__ import annotations

import ast
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

import ansible_runner
from pakiti_collector import parse_report
from testca import make_test_ca

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
ROLE = COLLECTION / "roles" / "pakiti_client"
CORE = COLLECTION / "plugins" / "module_utils"
RUNNER_SRC = ROLE / "files" / "vapor-pakiti-client"
PLAYBOOK = "playbooks/pakiti_client.yml"
TIMEOUT = 300
SECRET = "t0ken-vapor-pakiti-8152"
IS_ROOT = os.geteuid() == 0
# the run user's interpreter: the project's venv Python (requests, cryptography), readable by any user
NODE_PYTHON = ansible_runner.local_python()


# ------------------------------------------------------------------------------------------------
# fixtures: a test CA and collectors, a directory the run user can traverse, the run user
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def open_tmp():
    """A temporary directory the unprivileged run user can traverse (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="vapor-pk-", dir=os.environ.get("VAPOR_TEST_TMPDIR", "/tmp")))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ca(open_tmp):
    return make_test_ca(open_tmp / "ca")



@pytest.fixture
def run_user():
    """(user, group, created by the role): a system user the role creates when root, else the tests' own user."""
    if IS_ROOT:
        name = "vapor-pk-t%d" % (os.getpid() % 100000)
        yield name, name, True
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)
    else:
        yield pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name, False


@pytest.fixture
def inventory(open_tmp):
    return ansible_runner.write_local_inventory(open_tmp / "inventory.yml", group="packages")


def play(inventory, extra_vars, check=False, expect_failure=False):
    res = ansible_runner.run_playbook(PLAYBOOK, extra_vars, check=check, diff=True, inventory=inventory,
                                      expect_failure=expect_failure, timeout=TIMEOUT)
    assert SECRET not in res.stdout + res.stderr  # the token never shows, diff mode included
    return res


def changed_tasks(res):
    return [t["task"]["name"] for t in res.tasks() for r in t["hosts"].values() if r.get("changed")]


def failed_msgs(res):
    return [str(r.get("msg")) for _name, _host, r in res.failed_results()]


# ------------------------------------------------------------------------------------------------
# the host: the role's paths, and an existing local Pakiti client the role must never touch
# ------------------------------------------------------------------------------------------------


def node_paths(base):
    node = base / "node"
    return {
        "node": node,
        "install": node / "usr/local/lib/vapor-pakiti-client",
        "config": node / "etc/vapor-pakiti",
        "var": node / "var/lib/vapor-pakiti",
        "link": node / "usr/local/bin/vapor-pakiti-client",
        "systemd": node / "etc/systemd/system",
        "cron": node / "etc/cron.d",
    }


PAKITI_FILES = {
    "etc/pakiti-client.cfg": b"url = https://pakiti.example.org/feed/\nsite = OLD-SITE\n",
    "etc/pakiti/client.conf": b"url = http://wlcg-mwr-pkgdb.cern.ch:8000/package-report\ntag = MWR\n",
    "etc/cron.d/pakiti-client": b"17 4 * * * nobody /usr/bin/pakiti-client --conf /etc/pakiti-client.cfg\n",
    "etc/systemd/system/pakiti-client.service": b"[Service]\nType=oneshot\nExecStart=/usr/bin/pakiti-client "
                                                b"--config /etc/pakiti/client.conf\n",
}


# what is left of the host after state=absent: its own directories and the local Pakiti client's files
HOST_LEFT = sorted(["etc", "etc/cron.d", "etc/cron.d/pakiti-client", "etc/pakiti", "etc/pakiti/client.conf",
                    "etc/pakiti-client.cfg", "etc/systemd", "etc/systemd/system",
                    "etc/systemd/system/pakiti-client.service", "usr", "usr/local", "usr/local/bin", "usr/local/lib",
                    "var", "var/lib"])


def make_host(paths):
    """The directories every host has, and a local pakiti-client's configuration, cron entry and unit."""
    for key in ("systemd", "cron"):
        paths[key].mkdir(parents=True, exist_ok=True)
    paths["link"].parent.mkdir(parents=True, exist_ok=True)
    for rel, data in PAKITI_FILES.items():
        p = paths["node"] / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (1_600_000_000, 1_600_000_000))


def pakiti_snapshot(paths):
    out = {}
    for rel in PAKITI_FILES:
        p = paths["node"] / rel
        st = p.stat()
        out[rel] = (p.read_bytes(), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)
    out["etc/pakiti"] = sorted(os.listdir(paths["node"] / "etc/pakiti"))
    return out


def tree(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*")) if Path(path).exists() else []


def node_state(paths):
    return tree(paths["node"]), pakiti_snapshot(paths)


def role_vars(paths, user, group, create, scheduler, **extra):
    v = {
        "pakiti_client_become": False,
        "pakiti_client_user": user,
        "pakiti_client_group": group,
        "pakiti_client_create_user": create,
        "pakiti_client_scheduler": scheduler,
        "pakiti_client_systemd_manage": False,
        "pakiti_client_python": NODE_PYTHON,
        "pakiti_client_install_dir": str(paths["install"]),
        "pakiti_client_config_dir": str(paths["config"]),
        "pakiti_client_var_dir": str(paths["var"]),
        "pakiti_client_runner_link": str(paths["link"]),
        "pakiti_client_systemd_dir": str(paths["systemd"]),
        "pakiti_client_cron_dir": str(paths["cron"]),
    }
    v.update(extra)
    return v


def expected_minute_hour(hostname):
    """The documented default time: the first 32 bits of the name's SHA-256 modulo 60, the next modulo 24."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()
    return int(digest[0:8], 16) % 60, int(digest[8:16], 16) % 24


def scheduled_command(paths, scheduler):
    """(user, argv) the scheduler would run, from the rendered cron entry or unit."""
    if scheduler == "cron":
        lines = [ln for ln in (paths["cron"] / "vapor-pakiti-client").read_text().splitlines()
                 if ln and not ln.startswith("#") and "=" not in ln.split()[0]]
        assert len(lines) == 1, lines
        fields = lines[0].split(None, 6)
        return fields[5], shlex.split(fields[6])
    unit = (paths["systemd"] / "vapor-pakiti-client.service").read_text()
    (execstart,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    (user,) = re.findall(r"^User=(.*)$", unit, re.M)
    return user, shlex.split(execstart)


def as_user(argv, user, created, **kwargs):
    """Run argv as the run user (root switches to it; otherwise the tests' own user is the run user)."""
    kw = dict(capture_output=True, text=True, timeout=TIMEOUT, cwd="/")
    if IS_ROOT and created:
        kw.update(user=user, group=pwd.getpwnam(user).pw_gid, extra_groups=[])
    kw.update(kwargs)
    return subprocess.run(argv, check=False, **kw)


def module_report(inventory, params):
    """The vapor.ops.package_report module itself (ad hoc), with the given parameters."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="vapor_json",
               ANSIBLE_CALLBACK_PLUGINS=str(REPO / "tests" / "callback_plugins"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1")
    # unset options are left out: Ansible counts a null url or destinations as given (mutually exclusive)
    args = {k: val for k, val in params.items() if val is not None}
    argv = [ansible_runner.ansible_tool("ansible"), "localhost", "-i", str(inventory), "-m",
            "vapor.ops.package_report", "-a", json.dumps(args)]
    proc = subprocess.run(argv, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert proc.returncode == 0 and not result.get("failed"), result.get("msg")
    return result


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# the core the role ships is exactly what the runner needs, and none of it imports Ansible
# ------------------------------------------------------------------------------------------------


def _imports(tree_):
    for node in ast.walk(tree_):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from ("%s.%s" % (node.module, a.name) for a in node.names)


def test_core_file_list_is_closed_under_imports():
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__pakiti_client_core_files"]
    prefix = "ansible_collections.vapor.ops.plugins.module_utils."
    # the runner's own imports of the core, and everything they import
    todo = [m[len(prefix):] for m in _imports(ast.parse(RUNNER_SRC.read_text())) if m.startswith(prefix)]
    assert "_pakiti.run" in todo
    needed = set()
    while todo:
        name = todo.pop()
        path = CORE / (name.replace(".", "/") + ".py")
        if name in needed or not path.is_file():
            # a package (its __init__.py is written empty by the role) or a name imported from a module
            assert name in needed or (CORE / name.replace(".", "/") / "__init__.py").is_file() \
                or (CORE / (name.rsplit(".", 1)[0].replace(".", "/") + ".py")).is_file(), name
            continue
        needed.add(name)
        for mod in _imports(ast.parse(path.read_text())):
            assert not (mod == "ansible" or mod.startswith("ansible.")), f"{path} imports {mod}"
            if mod.startswith(prefix):
                todo.append(mod[len(prefix):])
    assert sorted(n.replace(".", "/") + ".py" for n in needed) == sorted(listed)
    for pkg in {n.rsplit(".", 1)[0] for n in needed if "." in n}:
        assert (CORE / pkg / "__init__.py").read_text() == "", pkg


# ------------------------------------------------------------------------------------------------
# the whole life of the scheduled reporter, with cron and with systemd
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["cron", "systemd"])
def test_pakiti_client_role_lifecycle(scheduler, open_tmp, ca, collectors, run_user, inventory):
    """The whole life of the role with cron: check mode, real, again (no change), check mode again, the scheduled
    runner, absent (check mode, real, again). With systemd the steps that do not depend on the scheduler (the check-mode
    runs, the module's own report, the repeated absent) are left to the cron run: a playbook run costs about 20 s."""
    full = scheduler == "cron"
    user, group, created = run_user
    paths = node_paths(open_tmp)
    make_host(paths)
    c = collectors()
    output = paths["var"] / "last-report.txt"
    v = role_vars(paths, user, group, created, scheduler,
                  pakiti_client_url=c.url, pakiti_client_ca_path=str(ca.ca_dir), pakiti_client_site="TEST-SITE",
                  pakiti_client_tag="MWR", pakiti_client_exclude=["re:^lib"], pakiti_client_drop_headers=["cpu"],
                  pakiti_client_output=str(output), pakiti_client_token=SECRET)
    config = paths["config"] / "client.json"
    runner_path = paths["install"] / "bin" / "vapor-pakiti-client"
    pristine = pakiti_snapshot(paths)

    # 1. check mode: changes are announced, nothing is written, no user is created
    before = node_state(paths)
    if full:
        check = play(inventory, v, check=True)
        assert check.changed > 0, changed_tasks(check)
    assert node_state(paths) == before
    if created:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)

    # 2. the real run
    real = play(inventory, v)
    assert real.changed > 0
    pw = pwd.getpwnam(user)
    if created:
        assert pw.pw_uid < 1000 and pw.pw_shell.endswith("nologin") and pw.pw_dir == str(paths["var"])
    assert pw.pw_uid != 0
    # the runner (its first line names the interpreter of the scheduled runs), the core copy, the link
    shebang, _nl, body = runner_path.read_bytes().partition(b"\n")
    assert shebang == b"#!" + NODE_PYTHON.encode() and os.access(runner_path, os.X_OK)
    assert body == RUNNER_SRC.read_bytes().partition(b"\n")[2]
    core_dest = paths["install"] / "ansible_collections/vapor/ops/plugins/module_utils"
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__pakiti_client_core_files"]
    for name in listed:
        assert (core_dest / name).read_bytes() == (CORE / name).read_bytes(), name
    assert paths["link"].is_symlink() and paths["link"].resolve() == runner_path.resolve()
    record = json.loads((paths["install"] / "vapor-ops-version.json").read_text())
    assert record["version"] == yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
    # the configuration: exactly the package_report parameters, 0600, owned by the run user
    params = json.loads(config.read_text())
    from ansible_collections.vapor.ops.plugins.module_utils._pakiti.options import TABLE
    assert set(params) == set(TABLE.options)
    expected = dict(TABLE.defaults(), url=c.url, ca_path=str(ca.ca_dir), site="TEST-SITE", tag="MWR",
                    exclude=["re:^lib"], drop_headers=["cpu"], output=str(output), token=SECRET,
                    state_file=str(paths["var"] / "state.json"))
    assert params == expected
    st = config.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == pw.pw_uid and grp.getgrgid(st.st_gid).gr_name == group
    st = paths["var"].stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == pw.pw_uid
    installed = json.loads((paths["install"] / "installed.json").read_text())
    assert installed["created_user"] in (created, str(created)) and installed["user"] == user
    # the schedule: the minute and hour of this host's name, as the run user
    minute, hour = expected_minute_hour("localhost")
    sched_user, cmd = scheduled_command(paths, scheduler)
    assert sched_user == user
    if scheduler == "cron":
        cron = (paths["cron"] / "vapor-pakiti-client").read_text()
        assert re.search(r"^%d %d \* \* \* %s %s %s --config %s --quiet --syslog$" % (
            minute, hour, re.escape(user), re.escape(NODE_PYTHON), re.escape(str(runner_path)),
            re.escape(str(config))), cron, re.M), cron
        assert not (paths["systemd"] / "vapor-pakiti-client.timer").exists()
    else:
        unit = (paths["systemd"] / "vapor-pakiti-client.service").read_text()
        for line in ("Type=oneshot", f"User={user}", f"Group={group}",
                     f"ExecStart={NODE_PYTHON} {runner_path} --config {config}"):
            assert f"\n{line}\n" in unit, line
        timer = (paths["systemd"] / "vapor-pakiti-client.timer").read_text()
        for line in ("OnCalendar=*-*-* %02d:%02d:00" % (hour, minute), "Persistent=true",
                     "Unit=vapor-pakiti-client.service", "WantedBy=timers.target"):
            assert f"\n{line}\n" in timer, line
        assert not (paths["cron"] / "vapor-pakiti-client").exists()
        analyze = shutil.which("systemd-analyze")
        if analyze:
            proc = subprocess.run([analyze, "verify", "--man=no", str(paths["systemd"] / "vapor-pakiti-client.timer"),
                                   "vapor-pakiti-client.service"],
                                  env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{paths['systemd']}:"), capture_output=True,
                                  text=True, timeout=60, check=False)
            problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "vapor-pakiti-client" in ln]
            assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr
    assert pakiti_snapshot(paths) == pristine

    # 3. a second run changes nothing, nor does a check-mode run now
    again = play(inventory, v)
    assert again.changed == 0, changed_tasks(again)
    if full:
        recheck = play(inventory, v, check=True)
        assert recheck.changed == 0, changed_tasks(recheck)
    assert c.received == []  # installing sent nothing

    # 4. the runner, started as the scheduler starts it, as the run user, sends the report
    proc = as_user(cmd, user, created)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if scheduler == "cron":
        assert proc.stdout == "" and proc.stderr == ""  # --quiet: cron mails nothing on success
    else:
        assert proc.stderr == "" and len(proc.stdout.splitlines()) == 1
    assert len(c.received) == 1
    scheduled = c.received[0]
    headers, lines = parse_report(scheduled.body)
    assert headers["site"] == "TEST-SITE" and headers["tag"] == "MWR" and "cpu" not in headers
    assert lines and not any(ln.startswith(b"lib") for ln in lines)
    assert scheduled.headers.get("Authorization") == "Bearer " + SECRET
    assert output.read_bytes() == scheduled.body
    state_file = paths["var"] / "state.json"
    for p in (state_file, output):
        st = p.stat()
        assert st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o600, p

    # by hand: one line, with the counts and the destination, and never a package name
    proc = as_user([NODE_PYTHON, str(runner_path), "--config", str(config)], user, created)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    (line,) = proc.stdout.splitlines()
    # the whole line, word for word: the host, the counts, the destination; so no package name can be in it
    m = re.match(r"^vapor-pakiti-client: report of (\S+) \((dpkg|rpm)\): (\d+) packages found, (\d+) reported, "
                 r"(\d+) filtered out; delivered to url \(the same report as last time\); (\S+) unchanged\.$", line)
    assert m, line
    assert m.group(1) == headers["host"] and int(m.group(4)) == len(lines) > 0 and m.group(6) == str(output)
    assert int(m.group(3)) == int(m.group(4)) + int(m.group(5)) and int(m.group(5)) > 0
    assert len(c.received) == 2 and c.received[1].body == scheduled.body

    # --check collects and filters, sends nothing
    proc = as_user([NODE_PYTHON, str(runner_path), "--config", str(config), "--check"], user, created)
    assert proc.returncode == 0 and "would send it to url" in proc.stdout, proc.stdout + proc.stderr
    assert len(c.received) == 2

    # 5. the module with the same parameters sends the same bytes (its state elsewhere: it runs as root)
    if full:
        result = module_report(inventory, dict(params, state_file=str(open_tmp / "module-state.json"),
                                               output=str(open_tmp / "module-report.txt")))
        assert result["destinations"][0]["sent"] is True
        assert len(c.received) == 3 and c.received[2].body == scheduled.body

    # 6. started as root by hand, the runner becomes the configuration file's owner
    if IS_ROOT and created:
        proc = subprocess.run([str(paths["link"]), "--config", str(config)], capture_output=True, text=True,
                              timeout=TIMEOUT, cwd="/", check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(c.received) == (4 if full else 3) and state_file.stat().st_uid == pw.pw_uid
        assert output.stat().st_uid == pw.pw_uid

    # 7. a destination that fails: exit 1, one line naming it; two runs never overlap
    n = len(c.received)
    bad = paths["var"] / "bad.json"
    bad.write_text(json.dumps(dict(params, url="https://127.0.0.1:%d/feed/" % _closed_port(), retries=0,
                                   output=None, state_file=None)))
    os.chown(bad, pw.pw_uid, pw.pw_gid)
    proc = as_user([NODE_PYTHON, str(runner_path), "--config", str(bad)], user, created)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (line,) = proc.stdout.splitlines()
    assert "not delivered to url (" in line and "refused" in line and line.endswith(".")
    bad.unlink()
    with open(config, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = as_user([NODE_PYTHON, str(runner_path), "--config", str(config)], user, created)
    assert proc.returncode == 1 and "still going" in proc.stdout
    assert len(c.received) == n
    proc = as_user([str(paths["link"]), "--version"], user, created)
    assert proc.returncode == 0 and proc.stdout.strip() == record["version"]
    assert pakiti_snapshot(paths) == pristine

    # 8. state: absent -- check mode first, then for real, then again (no change)
    gone = dict(v, pakiti_client_state="absent")
    before = node_state(paths)
    if full:
        assert play(inventory, gone, check=True).changed > 0
    assert node_state(paths) == before
    removed = play(inventory, gone)
    assert removed.changed > 0
    # nothing of the role is left: only the host's own directories and the local Pakiti client's files
    left = tree(paths["node"])
    assert left == HOST_LEFT, left
    assert pakiti_snapshot(paths) == pristine
    if created:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        with pytest.raises(KeyError):
            grp.getgrnam(group)
    if full:
        assert play(inventory, gone).changed == 0


@pytest.mark.compat
def test_absent_keeps_what_is_not_the_roles(open_tmp, ca, collectors, run_user, inventory):
    """A file of the site's in the configuration directory keeps it (and the file); a user that existed before the
    role is not removed."""
    user, group, created = run_user
    if created:  # the user exists before the role runs: the role does not create it, so it does not remove it
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        user], check=True, capture_output=True)
    paths = node_paths(open_tmp)
    make_host(paths)
    c = collectors()
    v = role_vars(paths, user, group, created, "cron", pakiti_client_url=c.url, pakiti_client_ca_path=str(ca.ca_file),
                  pakiti_client_encrypt=str(paths["config"] / "collector.pem"))
    paths["config"].mkdir(parents=True)
    shutil.copy(ca.enc_cert, paths["config"] / "collector.pem")
    assert play(inventory, v).changed > 0
    installed = json.loads((paths["install"] / "installed.json").read_text())
    assert installed["created_user"] in (False, "False") and installed["created_group"] in (False, "False")
    assert play(inventory, dict(v, pakiti_client_state="absent")).changed > 0
    assert tree(paths["config"]) == ["collector.pem"]
    assert not paths["install"].exists() and not paths["var"].exists() and not paths["link"].is_symlink()
    assert tree(paths["cron"]) == ["pakiti-client"]
    pwd.getpwnam(user)
    grp.getgrnam(group)
    assert c.received == []


# ------------------------------------------------------------------------------------------------
# bad settings fail in one sentence and write no configuration or schedule
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["root", "pakiti_path", "weekday", "core_pattern", "core_cert", "no_requests"])
def test_bad_settings_fail_clearly(case, open_tmp, ca, run_user, inventory):
    user, group, created = run_user
    paths = node_paths(open_tmp)
    make_host(paths)
    pristine = pakiti_snapshot(paths)
    url = "https://127.0.0.1:%d/feed/" % _closed_port()
    v = role_vars(paths, user, group, created, "cron", pakiti_client_url=url, pakiti_client_ca_path=str(ca.ca_file))
    expected = {
        "root": "pakiti_client_user is root, which the package report never needs",
        "pakiti_path": "would have a part named pakiti*, which belongs to a local Pakiti client",
        "weekday": "is not a minute 0-59, an hour 0-23 and days of the week as cron writes them",
        "core_pattern": "The include pattern 're:(' does not compile: ",
        "core_cert": "The encryption certificate '%s' expired on " % ca.enc_expired_cert,
        "no_requests": "lacks what the package report needs on localhost: the package(s) python3-requests;",
    }[case]
    if case == "root":
        v["pakiti_client_user"] = "root"
    elif case == "pakiti_path":
        v["pakiti_client_config_dir"] = str(paths["node"] / "etc" / "pakiti")
    elif case == "weekday":
        v["pakiti_client_weekday"] = "funday"
    elif case == "core_pattern":
        v["pakiti_client_include"] = ["re:("]
    elif case == "core_cert":
        v["pakiti_client_encrypt"] = str(ca.enc_expired_cert)
    elif case == "no_requests":
        python = shutil.which("python3", path="/usr/bin")
        probe = subprocess.run([python, "-c", "import requests"], capture_output=True, check=False) if python else None
        if probe is None or probe.returncode == 0:
            pytest.skip("no interpreter without requests on this machine")
        v.update(pakiti_client_python=python, pakiti_client_install_packages=False)
    res = play(inventory, v, expect_failure=True)
    msgs = failed_msgs(res)
    assert any(expected in m for m in msgs), msgs
    assert all("\n" not in m.strip() for m in msgs), msgs
    # no configuration, no schedule; the local Pakiti client as it was
    assert not (paths["config"] / "client.json").exists()
    assert tree(paths["cron"]) == ["pakiti-client"]
    assert pakiti_snapshot(paths) == pristine
    if case in ("root", "pakiti_path", "weekday", "no_requests"):  # refused before anything was installed
        assert not paths["install"].exists() and not paths["var"].exists() and not paths["config"].exists()
        if created:
            with pytest.raises(KeyError):
                pwd.getpwnam(user)
    elif case == "core_cert":  # refused by the core, after the install: absent still removes all of it, the user too
        assert play(inventory, dict(v, pakiti_client_state="absent")).changed > 0
        assert tree(paths["node"]) == HOST_LEFT
        if created:
            with pytest.raises(KeyError):
                pwd.getpwnam(user)


# ------------------------------------------------------------------------------------------------
# the default time: stable for a host, spread over hosts
# ------------------------------------------------------------------------------------------------


def test_default_time_is_stable_per_host_and_spread(open_tmp):
    hosts = ["wn%03d.example.org" % i for i in range(40)]
    inv = ansible_runner.write_local_inventory(open_tmp / "hosts.yml", hosts=hosts)
    pb = open_tmp / "time.yml"
    pb.write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False,
        "tasks": [{"ansible.builtin.include_vars": {"file": str(ROLE / "defaults" / "main.yml")}},
                  {"name": "time", "ansible.builtin.debug": {
                      "msg": "{{ pakiti_client_minute }} {{ pakiti_client_hour }}"}}]}]))
    seen = []
    for _ in range(2):
        res = ansible_runner.run_playbook(pb, {}, inventory=inv)
        seen.append({h: tuple(int(x) for x in res.result("time", h)["msg"].split()) for h in hosts})
    assert seen[0] == seen[1]
    assert seen[0] == {h: expected_minute_hour(h) for h in hosts}
    assert len(set(seen[0].values())) > 30 and len({m for m, _h in seen[0].values()}) > 20
    assert all(0 <= m <= 59 and 0 <= h <= 23 for m, h in seen[0].values())
