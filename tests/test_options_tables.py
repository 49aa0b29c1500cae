# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each option of a job is written once: the storage_dump role's copies follow the se_dump options table.

The table (_storage/se_dump_options.SE_DUMP) gives the module its argument spec and the core its defaults. The
role has its own copies, which Ansible needs as files: meta/argument_specs.yml (storage_dump_<name>),
defaults/main.yml, the parameters vars/main.yml hands to the runner (__storage_dump_params), and the project's
playbooks/storage_dump.yml passes every option to the module. ``role_drift`` compares them all with the table
and names every difference; the test fails on any. A second test feeds it a drifted copy (listing_budget
removed, as it was before issue 9) and checks that it is caught.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ansible_runner
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump_options import SE_DUMP

REPO = Path(__file__).resolve().parent.parent
ROLE = REPO / "collections" / "ansible_collections" / "vapor" / "ops" / "roles" / "storage_dump"
PLAYBOOK = REPO / "playbooks" / "storage_dump.yml"
PREFIX = "storage_dump_"

# what is compared for every option (and every suboption of a dict option)
KEYS = ("type", "default", "choices", "elements", "no_log", "required")

# deliberate differences between the module and the role, each with its reason
DELIBERATE = {
    ("dest", "required"): "the role's storage_dump_dest is needed only with storage_dump_state=present (removing a "
                          "schedule needs no dump directory); tasks/main.yml asserts it then",
}


def _role_yaml(rel):
    return yaml.safe_load((ROLE / rel).read_text())


def load_role():
    """The role's copies, as the checker takes them."""
    return {
        "argument_specs": _role_yaml("meta/argument_specs.yml")["argument_specs"]["main"]["options"],
        "defaults": _role_yaml("defaults/main.yml"),
        "role_only": _role_yaml("vars/main.yml")["__storage_dump_role_options"],
        "playbook": next(t["vapor.ops.se_dump"] for t in yaml.safe_load(PLAYBOOK.read_text())[0]["tasks"]
                         if "vapor.ops.se_dump" in t),
    }


def _compare(where, module_spec, role_spec, option, problems):
    for key in KEYS:
        if (option, key) in DELIBERATE:
            continue
        mine, theirs = module_spec.get(key), role_spec.get(key)
        if key == "no_log":
            mine, theirs = bool(mine), bool(theirs)
        if key == "required":
            mine, theirs = bool(mine), bool(theirs)
        if key == "choices" and mine is not None and theirs is not None:
            mine, theirs = list(mine), list(theirs)
        if mine != theirs:
            problems.append("%s: %s is %r in the table but %r in the role" % (where, key, mine, theirs))
    subs, role_subs = module_spec.get("options") or {}, role_spec.get("options") or {}
    for name in sorted(set(subs) | set(role_subs)):
        if name not in role_subs:
            problems.append("%s: the suboption %s is missing from the role" % (where, name))
        elif name not in subs:
            problems.append("%s: the suboption %s is not in the table" % (where, name))
        else:
            _compare("%s.%s" % (where, name), subs[name], role_subs[name], None, problems)


def role_drift(table, role, params_names):
    """Every difference between the options table and the role's copies, as sentences (empty: none).

    ``role``: load_role()'s dictionary; ``params_names``: the keys of the parameters the role writes for the
    runner (rendered from vars/main.yml by Ansible).
    """
    problems = []
    specs, defaults, role_only = role["argument_specs"], role["defaults"], set(role["role_only"])
    for name in sorted(set(table.options) & role_only):
        problems.append("%s is listed as the role's own option but is an option of the module" % name)
    for name, spec in sorted(table.options.items()):
        var = PREFIX + name
        if var not in specs:
            problems.append("%s is missing from meta/argument_specs.yml" % var)
        else:
            _compare("meta/argument_specs.yml %s" % var, spec, specs[var], name, problems)
        if var not in defaults:
            problems.append("%s is missing from defaults/main.yml" % var)
        elif defaults[var] != spec.get("default"):
            problems.append("defaults/main.yml %s is %r, the table's default is %r"
                            % (var, defaults[var], spec.get("default")))
        if name not in params_names:
            problems.append("%s is not passed to the runner (__storage_dump_params in vars/main.yml)" % name)
        if name not in role["playbook"]:
            problems.append("playbooks/storage_dump.yml does not pass %s to vapor.ops.se_dump" % name)
    for where, names in (("meta/argument_specs.yml", specs), ("defaults/main.yml", defaults)):
        for var in sorted(names):
            name = var[len(PREFIX):]
            if var.startswith(PREFIX) and name not in table.options and name not in role_only:
                problems.append("%s %s is neither an option of the module nor one of the role's own" % (where, var))
    for name in sorted(set(params_names) - set(table.options)):
        problems.append("the runner is given %s, which is not an option of the module" % name)
    for name in sorted(set(role["playbook"]) - set(table.options)):
        problems.append("playbooks/storage_dump.yml passes %s, which is not an option of the module" % name)
    return problems


@pytest.fixture(scope="module")
def rendered_params(tmp_path_factory):
    """__storage_dump_params as Ansible renders it from the role's defaults and vars (role_path given)."""
    tmp = tmp_path_factory.mktemp("params")
    play = tmp / "render.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(ROLE / "defaults" / "main.yml")}},
            {"ansible.builtin.include_vars": {"file": str(ROLE / "vars" / "main.yml")}},
            {"ansible.builtin.copy": {"content": "{{ __storage_dump_params | to_json }}", "dest": str(tmp / "p.json")}},
        ]}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([ansible_runner.ansible_tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(play), "-e", json.dumps({"role_path": str(ROLE), "storage_dump_dest": "/d",
                                                          "ansible_python_interpreter": sys.executable})],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((tmp / "p.json").read_text())


def test_the_role_follows_the_se_dump_table(rendered_params):
    assert role_drift(SE_DUMP, load_role(), set(rendered_params)) == []
    # the rendered parameters are the table's defaults (the role's defaults equal them)
    expected = dict(SE_DUMP.defaults(), dest="/d")
    assert rendered_params == expected


def test_drift_is_caught(rendered_params):
    """The state before issue 9: listing_budget in no role file. The checker names each gap."""
    role = load_role()
    drifted = copy.deepcopy(role)
    del drifted["argument_specs"]["storage_dump_listing_budget"]
    del drifted["defaults"]["storage_dump_listing_budget"]
    params = set(rendered_params) - {"listing_budget"}
    problems = role_drift(SE_DUMP, drifted, params)
    assert problems == [
        "storage_dump_listing_budget is missing from meta/argument_specs.yml",
        "storage_dump_listing_budget is missing from defaults/main.yml",
        "listing_budget is not passed to the runner (__storage_dump_params in vars/main.yml)",
    ]
    # a changed default, a changed choice, a no_log dropped from a suboption, an extra role option
    drifted = copy.deepcopy(role)
    drifted["argument_specs"]["storage_dump_timeout"]["default"] = 600
    drifted["defaults"]["storage_dump_timeout"] = 600
    drifted["argument_specs"]["storage_dump_format"]["choices"] = ["text", "cms"]
    del drifted["argument_specs"]["storage_dump_db"]["options"]["password"]["no_log"]
    drifted["argument_specs"]["storage_dump_frobnicate"] = {"type": "str"}
    problems = role_drift(SE_DUMP, drifted, set(rendered_params))
    assert "meta/argument_specs.yml storage_dump_timeout: default is 300 in the table but 600 in the role" in problems
    assert "defaults/main.yml storage_dump_timeout is 600, the table's default is 300" in problems
    assert any(p.startswith("meta/argument_specs.yml storage_dump_format: choices") for p in problems)
    assert "meta/argument_specs.yml storage_dump_db.password: no_log is True in the table but False in the role" \
        in problems
    assert any("storage_dump_frobnicate is neither" in p for p in problems)
    # a role-own option named like a module option, and the playbook missing one
    drifted = copy.deepcopy(role)
    drifted["role_only"] = list(drifted["role_only"]) + ["keep"]
    drifted["playbook"] = dict(drifted["playbook"])
    del drifted["playbook"]["listing_budget"]
    problems = role_drift(SE_DUMP, drifted, set(rendered_params))
    assert "keep is listed as the role's own option but is an option of the module" in problems
    assert "playbooks/storage_dump.yml does not pass listing_budget to vapor.ops.se_dump" in problems


def test_deliberate_differences_are_real():
    """Each listed difference exists (a difference that went away is removed from the list)."""
    specs = load_role()["argument_specs"]
    for (name, key), _reason in DELIBERATE.items():
        assert SE_DUMP.options[name].get(key) != specs[PREFIX + name].get(key), (name, key)
