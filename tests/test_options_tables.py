# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each option of a job is written once: the roles' copies follow their module's options table.

The tables (_storage/se_dump_options.SE_DUMP, _pakiti/options.TABLE) give each module its argument spec and its
core its defaults. A role that runs the core on a schedule has its own copies, which Ansible needs as files:
meta/argument_specs.yml (<prefix><name>), defaults/main.yml, the parameters vars/main.yml hands to the runner
(__<prefix>params), and the project's playbook of the module passes every option to it. ``role_drift`` compares
them all with the table and names every difference; the test fails on any. Two roles are checked this way:
storage_dump against SE_DUMP (playbooks/storage_dump.yml, vapor.ops.se_dump) and pakiti_client against the
package_report table (playbooks/package_report.yml, vapor.ops.package_report). Tests feed the checker drifted
copies (storage_dump without listing_budget, as it was before issue 9; pakiti_client with an option, a no_log or a
playbook line lost) and check that each gap is caught. The differences that are deliberate are listed, each with
its reason, and a test checks that each still exists.
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
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.options import TABLE as PACKAGE_REPORT
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


PAKITI_ROLE = REPO / "collections" / "ansible_collections" / "vapor" / "ops" / "roles" / "pakiti_client"
PAKITI_PLAYBOOK = REPO / "playbooks" / "package_report.yml"
PAKITI_PREFIX = "pakiti_client_"
# how playbooks/package_report.yml passes an option: from the variable package_report_<name>, omitted when unset
PAKITI_PLAYBOOK_VALUE = "{{ package_report_%s | default(omit) }}"
# (option, what): "default" (argument spec and defaults/main.yml), "defaults" (not in defaults/main.yml) or
# "playbook" (playbooks/package_report.yml passes a computed value), each with its reason
PAKITI_DELIBERATE = {
    ("state_file", "default"): "the scheduled client keeps the digest of the last report each destination got in the "
                               "role's own directory (<pakiti_client_var_dir>/state.json, owned by the run user), so "
                               "its line says whether the report changed; the module keeps no state unless asked "
                               "(null turns it off in the role too)",
    ("mode", "defaults"): "a role's argument validation refuses null for an option with choices, so "
                          "pakiti_client_mode is left undefined when not set (the runner is given null then)",
    ("host", "playbook"): "with the vapor.ops.gocdb inventory the report's host is the GOCDB host name "
                          "(inventory_hostname), else the host's own fully qualified name",
    ("products", "playbook"): "with the vapor.ops.gocdb inventory only the products of the service types the host is "
                              "registered for in GOCDB are reported (package_report_host_products)",
    ("site", "playbook"): "with the vapor.ops.gocdb inventory the host's GOCDB site (gocdb_site) is the default site",
}


class Profile:
    """One role checked against one options table: where its copies are and how they are named."""

    def __init__(self, role, prefix, playbook, module, deliberate, playbook_value=None):
        self.role, self.prefix, self.playbook, self.module = role, prefix, playbook, module
        self.deliberate = deliberate
        # the form every option's value takes in the playbook (None: not checked)
        self.playbook_value = playbook_value
        self.params_var = "__%sparams" % prefix
        self.role_options_var = "__%srole_options" % prefix


STORAGE = Profile(ROLE, PREFIX, PLAYBOOK, "vapor.ops.se_dump", DELIBERATE)
PAKITI = Profile(PAKITI_ROLE, PAKITI_PREFIX, PAKITI_PLAYBOOK, "vapor.ops.package_report", PAKITI_DELIBERATE,
                 playbook_value=PAKITI_PLAYBOOK_VALUE)


def _role_yaml(rel, profile=STORAGE):
    return yaml.safe_load((profile.role / rel).read_text())


def load_role(profile=STORAGE):
    """The role's copies, as the checker takes them."""
    return {
        "argument_specs": _role_yaml("meta/argument_specs.yml", profile)["argument_specs"]["main"]["options"],
        "defaults": _role_yaml("defaults/main.yml", profile),
        "role_only": _role_yaml("vars/main.yml", profile)[profile.role_options_var],
        "playbook": next(t[profile.module] for t in yaml.safe_load(profile.playbook.read_text())[0]["tasks"]
                         if profile.module in t),
    }


def _compare(where, module_spec, role_spec, option, problems, deliberate=None):
    deliberate = DELIBERATE if deliberate is None else deliberate
    for key in KEYS:
        if (option, key) in deliberate:
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
            _compare("%s.%s" % (where, name), subs[name], role_subs[name], None, problems, deliberate)


def role_drift(table, role, params_names, profile=STORAGE):
    """Every difference between the options table and the role's copies, as sentences (empty: none).

    ``role``: load_role()'s dictionary; ``params_names``: the keys of the parameters the role writes for the
    runner (rendered from vars/main.yml by Ansible); ``profile``: which role, playbook and module (STORAGE, PAKITI).
    """
    problems = []
    prefix, deliberate = profile.prefix, profile.deliberate
    playbook = "playbooks/%s" % profile.playbook.name
    specs, defaults, role_only = role["argument_specs"], role["defaults"], set(role["role_only"])
    for name in sorted(set(table.options) & role_only):
        problems.append("%s is listed as the role's own option but is an option of the module" % name)
    for name, spec in sorted(table.options.items()):
        var = prefix + name
        if var not in specs:
            problems.append("%s is missing from meta/argument_specs.yml" % var)
        else:
            _compare("meta/argument_specs.yml %s" % var, spec, specs[var], name, problems, deliberate)
        if var not in defaults:
            if (name, "defaults") not in deliberate:
                problems.append("%s is missing from defaults/main.yml" % var)
        elif (name, "defaults") in deliberate:
            problems.append("%s is in defaults/main.yml, which it is listed as not being in" % var)
        elif defaults[var] != spec.get("default") and (name, "default") not in deliberate:
            problems.append("defaults/main.yml %s is %r, the table's default is %r"
                            % (var, defaults[var], spec.get("default")))
        if name not in params_names:
            problems.append("%s is not passed to the runner (%s in vars/main.yml)" % (name, profile.params_var))
        if name not in role["playbook"]:
            problems.append("%s does not pass %s to %s" % (playbook, name, profile.module))
        elif profile.playbook_value and (name, "playbook") not in deliberate \
                and role["playbook"][name] != profile.playbook_value % name:
            problems.append("%s passes %s as %r, not %r"
                            % (playbook, name, role["playbook"][name], profile.playbook_value % name))
    for where, names in (("meta/argument_specs.yml", specs), ("defaults/main.yml", defaults)):
        for var in sorted(names):
            name = var[len(prefix):]
            if var.startswith(prefix) and name not in table.options and name not in role_only:
                problems.append("%s %s is neither an option of the module nor one of the role's own" % (where, var))
    for name in sorted(set(params_names) - set(table.options)):
        problems.append("the runner is given %s, which is not an option of the module" % name)
    for name in sorted(set(role["playbook"]) - set(table.options)):
        problems.append("%s passes %s, which is not an option of the module" % (playbook, name))
    return problems


def _render_params(tmp, profile, extra_vars):
    """__<prefix>params as Ansible renders it from the role's defaults and vars (role_path given)."""
    play = tmp / "render.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(profile.role / "defaults" / "main.yml")}},
            {"ansible.builtin.include_vars": {"file": str(profile.role / "vars" / "main.yml")}},
            {"ansible.builtin.copy": {"content": "{{ %s | to_json }}" % profile.params_var,
                                      "dest": str(tmp / "p.json")}},
        ]}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([ansible_runner.ansible_tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(play), "-e", json.dumps(dict(extra_vars, role_path=str(profile.role),
                                                            ansible_python_interpreter=sys.executable))],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((tmp / "p.json").read_text())


@pytest.fixture(scope="module")
def rendered_params(tmp_path_factory):
    """__storage_dump_params as Ansible renders it from the role's defaults and vars."""
    return _render_params(tmp_path_factory.mktemp("params"), STORAGE, {"storage_dump_dest": "/d"})


@pytest.fixture(scope="module")
def pakiti_rendered_params(tmp_path_factory):
    """__pakiti_client_params as Ansible renders it from the role's defaults and vars."""
    return _render_params(tmp_path_factory.mktemp("pakiti-params"), PAKITI, {})


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


# ------------------------------------------------------------------------------------------------
# the pakiti_client role and playbooks/package_report.yml against the package_report table
# ------------------------------------------------------------------------------------------------


def test_the_pakiti_client_role_follows_the_package_report_table(pakiti_rendered_params):
    assert role_drift(PACKAGE_REPORT, load_role(PAKITI), set(pakiti_rendered_params), PAKITI) == []
    # the rendered parameters are the table's defaults, but for the state file in the role's directory, which is
    # the default the argument spec documents
    spec = load_role(PAKITI)["argument_specs"]
    expected = dict(PACKAGE_REPORT.defaults(), state_file=spec["pakiti_client_state_file"]["default"])
    assert pakiti_rendered_params == expected


def test_pakiti_client_drift_is_caught(pakiti_rendered_params):
    role = load_role(PAKITI)
    drifted = copy.deepcopy(role)
    del drifted["argument_specs"]["pakiti_client_retry_backoff"]
    del drifted["defaults"]["pakiti_client_retry_backoff"]
    problems = role_drift(PACKAGE_REPORT, drifted, set(pakiti_rendered_params) - {"retry_backoff"}, PAKITI)
    assert problems == [
        "pakiti_client_retry_backoff is missing from meta/argument_specs.yml",
        "pakiti_client_retry_backoff is missing from defaults/main.yml",
        "retry_backoff is not passed to the runner (__pakiti_client_params in vars/main.yml)",
    ]
    # a secret that would show, a changed choice, a destination suboption lost, a changed default, an extra option
    drifted = copy.deepcopy(role)
    del drifted["argument_specs"]["pakiti_client_token"]["no_log"]
    drifted["argument_specs"]["pakiti_client_packager"]["choices"] = ["auto", "rpm"]
    del drifted["argument_specs"]["pakiti_client_destinations"]["options"]["http"]
    drifted["defaults"]["pakiti_client_splay"] = 600
    drifted["defaults"]["pakiti_client_mode"] = None
    drifted["argument_specs"]["pakiti_client_frobnicate"] = {"type": "str"}
    problems = role_drift(PACKAGE_REPORT, drifted, set(pakiti_rendered_params), PAKITI)
    assert "meta/argument_specs.yml pakiti_client_token: no_log is True in the table but False in the role" in problems
    assert any(p.startswith("meta/argument_specs.yml pakiti_client_packager: choices") for p in problems)
    assert "meta/argument_specs.yml pakiti_client_destinations: the suboption http is missing from the role" in problems
    assert "defaults/main.yml pakiti_client_splay is 600, the table's default is 0" in problems
    assert "pakiti_client_mode is in defaults/main.yml, which it is listed as not being in" in problems
    assert any("pakiti_client_frobnicate is neither" in p for p in problems)
    # the playbook: an option not passed, one passed from another variable, one that is not an option
    drifted = copy.deepcopy(role)
    drifted["playbook"] = dict(drifted["playbook"])
    del drifted["playbook"]["retry_backoff"]
    drifted["playbook"]["state_file"] = "{{ package_report_state | default(omit) }}"
    drifted["playbook"]["frobnicate"] = "{{ package_report_frobnicate | default(omit) }}"
    drifted["role_only"] = list(drifted["role_only"]) + ["splay"]
    problems = role_drift(PACKAGE_REPORT, drifted, set(pakiti_rendered_params), PAKITI)
    assert sorted(problems) == sorted([
        "splay is listed as the role's own option but is an option of the module",
        "playbooks/package_report.yml does not pass retry_backoff to vapor.ops.package_report",
        "playbooks/package_report.yml passes state_file as '{{ package_report_state | default(omit) }}', not "
        "'{{ package_report_state_file | default(omit) }}'",
        "playbooks/package_report.yml passes frobnicate, which is not an option of the module",
    ])


def test_pakiti_client_deliberate_differences_are_real():
    """Each listed difference exists (a difference that went away is removed from the list)."""
    role = load_role(PAKITI)
    for (name, what), _reason in PAKITI_DELIBERATE.items():
        var = PAKITI_PREFIX + name
        if what == "default":
            assert PACKAGE_REPORT.options[name].get("default") != role["argument_specs"][var].get("default"), name
            assert PACKAGE_REPORT.options[name].get("default") != role["defaults"][var], name
        elif what == "defaults":
            assert var not in role["defaults"], name
        else:
            assert role["playbook"][name] != PAKITI_PLAYBOOK_VALUE % name, name
