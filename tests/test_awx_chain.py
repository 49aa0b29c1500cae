# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The playbooks as AWX runs them: extra vars only, job artifacts keyed by host, jobs that chain with no mapping.

The scheme (the collection's docs/docsite/rst/guide_awx.rst, "Jobs that chain"): every playbook ends with
playbooks/tasks/publish.yml, which publishes the artifact ``vapor_<playbook>`` = {inventory_hostname: result} with
set_stats (per_host false, aggregate true); a job reads the artifact of an earlier job for its own host
(playbooks/vars/chain.yml). The static tests parse the playbooks: every one publishes its artifact, no artifact can
be shadowed, and every artifact key a playbook reads is one the earlier job's module returns.

The chain test runs consistency check -> dark data cleanup -> catalog cleanup through ``ansible-runner`` the way AWX
runs a workflow: one private data directory per job (project/ with the playbooks and an ansible.cfg that finds the
collection, inventory/ a copy of inventories/demo, env/extravars), the set_stats artifacts of every earlier job
(the ``artifact_data`` of the job's ``playbook_on_stats`` event, as AWX stores them) passed to the next job as extra
vars and nothing else, on the demo data (SQLite catalog, local storage, file://) seeded by scripts/demo.py.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PLAYBOOKS = REPO / "playbooks"
MODULES = REPO / "collections" / "ansible_collections" / "vapor" / "ops" / "plugins" / "modules"
PUBLISH = "tasks/publish.yml"
# a read of an earlier job's artifact: vapor_<playbook>[<host expression>].<key>
ARTIFACT_READ = re.compile(r"\b(vapor_[a-z_]+)\[[^\]]*\]\.([a-z_]+)")
# what the runner's job template would hold besides the artifacts: where the demo lives (the inventory is a copy)
# and a confirmation over one run (the multi-run confirmation itself is tested in the unit tests)
TEMPLATE_VARS = {"consistency_confirm_runs": 1, "consistency_confirm_days": 0}


def playbook_files():
    return sorted(PLAYBOOKS.glob("*.yml"))


def load(path):
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def play_tasks(play):
    return flat([t for section in ("pre_tasks", "tasks", "post_tasks") for t in play.get(section) or []])


def flat(tasks):
    """The tasks, with those of every block in their place."""
    out = []
    for t in tasks:
        out += flat([b for part in ("block", "rescue", "always") for b in t.get(part, [])]) if "block" in t else [t]
    return out


def publish_task(path):
    """The import of tasks/publish.yml that ends the (only) play of a playbook."""
    plays = load(path)
    assert len(plays) == 1, f"{path.name}: one play per playbook"
    tasks = play_tasks(plays[0])
    assert tasks, f"{path.name} has no task"
    last = tasks[-1]
    assert last.get("ansible.builtin.import_tasks") == PUBLISH, \
        f"{path.name} does not end with ansible.builtin.import_tasks: {PUBLISH}"
    return plays[0], last["vars"]


def returned_keys(module):
    """The keys a module's RETURN documentation names (what its result can hold)."""
    text = (MODULES / f"{module}.py").read_text(encoding="utf-8")
    doc = re.search(r'^RETURN = r?"""(.*?)^"""', text, re.S | re.M).group(1)
    return set(load_text(doc))


def load_text(text):
    return yaml.safe_load(text) or {}


def published(path):
    """(artifact name, the keys its value holds for each host) of one playbook."""
    play, ev = publish_task(path)
    result = ev["vapor_artifact_result"]
    if isinstance(result, dict):
        keys = set(result)
    else:
        name = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", result).group(1)
        (task,) = [t for t in play_tasks(play) if t.get("register") == name]
        (module,) = [k.rsplit(".", 1)[1] for k in task if k.startswith("vapor.ops.")]
        keys = returned_keys(module)
    return ev["vapor_artifact"], keys - set(ev.get("vapor_artifact_omit", [])) - {"invocation", "diff"}


def test_every_playbook_publishes_its_artifact_keyed_by_host():
    publisher = load(PLAYBOOKS / PUBLISH)
    (task,) = publisher
    stats = task["ansible.builtin.set_stats"]
    assert stats["per_host"] is False and stats["aggregate"] is True
    assert "{vapor_artifact: {inventory_hostname:" in stats["data"].replace("\n", " ")
    names = []
    for path in playbook_files():
        play, ev = publish_task(path)
        assert ev["vapor_artifact"] == "vapor_" + path.stem, path.name
        assert "vars_prompt" not in play, f"{path.name} prompts: AWX jobs take extra vars only"
        names.append(ev["vapor_artifact"])
        assert not set(ev.get("vapor_artifact_paths", [])) - published(path)[1], \
            f"{path.name}: a path left out in check mode that the module does not return"
    assert len(set(names)) == len(names) >= 8, names  # every playbook, each its own artifact
    assert not list((REPO / "inventories").glob("*/host_vars")), "settings go to group_vars or extra vars"


def test_no_playbook_can_shadow_an_artifact():
    """Artifacts arrive as extra vars, which beat register, set_fact and play vars: none may use their names."""
    artifacts = {"vapor_" + p.stem for p in playbook_files()}
    for path in playbook_files() + sorted(PLAYBOOKS.glob("*/*.yml")):
        data = load(path)
        plays = data if isinstance(data, list) and data and "hosts" in data[0] else []
        tasks = [t for play in plays for t in play_tasks(play)] or (data if isinstance(data, list) else [])
        names = {t.get("register") for t in tasks} | {k for t in tasks for k in t.get("ansible.builtin.set_fact", {})}
        names |= {k for play in plays for k in play.get("vars") or {}}
        if isinstance(data, dict):                                  # a vars file
            names |= set(data)
        assert not names & artifacts, f"{path.relative_to(REPO)} sets {sorted(names & artifacts)}"


def test_what_a_job_reads_from_an_earlier_job_is_what_that_job_publishes():
    producers = dict(published(p) for p in playbook_files())
    reads = set()
    for path in playbook_files() + sorted(PLAYBOOKS.glob("*/*.yml")):
        for artifact, key in ARTIFACT_READ.findall(path.read_text(encoding="utf-8")):
            assert artifact in producers, f"{path.relative_to(REPO)} reads {artifact}, which no playbook publishes"
            assert key in producers[artifact], \
                f"{path.relative_to(REPO)} reads {artifact}[host].{key}, which that job does not publish"
            reads.add((artifact, key))
    # the chains the guide documents: check -> cleanups, storage and catalog dumps -> check
    assert reads >= {("vapor_consistency_check", "run_dir"), ("vapor_storage_dump", "dump"),
                     ("vapor_catalog_dump", "dump")}, reads


def test_demo_inventory_does_not_depend_on_where_it_lies():
    """AWX copies an imported inventory: no path of the demo may be relative to inventory_dir."""
    files = sorted((REPO / "inventories" / "demo").rglob("*.yml"))
    assert not [p for p in files for v in _strings(load(p)) if "inventory_dir" in v]
    hosts = load(REPO / "inventories" / "demo" / "hosts.yml")
    assert "playbook_dir" in hosts["all"]["vars"]["vapor_demo_dir"]
    values = [v for p in files if "group_vars" in p.parts for v in _strings(load(p))]
    paths = [v for v in values if "/" in v and not v.startswith("^") and v != "/vo"]   # /vo: the SFN prefix
    assert paths and all("{{ vapor_demo_dir }}/" in v for v in paths), paths


def _strings(data):
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) else []


# -- the chain through ansible-runner ------------------------------------------------------------------------


def _unsafe_yaml(value, unsafe):
    """``value`` as YAML; strings tagged !unsafe when they come from artifacts, as AWX writes extra vars it did
    not take from the job template itself (a path holding '{{' is never templated)."""
    if isinstance(value, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(str(k)), _unsafe_yaml(v, unsafe)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_unsafe_yaml(v, unsafe) for v in value) + "]"
    if isinstance(value, str):
        return ("!unsafe " if unsafe else "") + json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        text = repr(value)
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    return json.dumps(value)


class Workflow:
    """Jobs run one after the other as AWX runs the nodes of a workflow: each in its own private data directory,
    with the job template's extra vars and the artifacts of every earlier job as its extra vars."""

    def __init__(self, root: Path, template_vars: dict):
        self.root = root
        self.template_vars = template_vars
        self.artifacts: dict = {}
        self.jobs = 0
        runner = REPO / ".venv" / "bin" / "ansible-runner"
        self.runner = str(runner) if runner.exists() else shutil.which("ansible-runner")
        assert self.runner, "ansible-runner is not installed: make venv (requirements-test.txt)"

    def _private_data_dir(self, name: str) -> Path:
        self.jobs += 1
        pdd = self.root / f"job{self.jobs}-{name}"
        # project/: what a project sync checks out: the playbooks and the ansible.cfg that finds the collection
        (pdd / "project").mkdir(parents=True)
        shutil.copytree(PLAYBOOKS, pdd / "project" / "playbooks")
        shutil.copy(REPO / "ansible.cfg", pdd / "project" / "ansible.cfg")
        os.symlink(REPO / "collections", pdd / "project" / "collections")
        # inventory/: the demo inventory, copied as AWX copies an imported inventory
        shutil.copytree(REPO / "inventories" / "demo", pdd / "inventory")
        (pdd / "env").mkdir()
        lines = ["%s: %s" % (json.dumps(k), _unsafe_yaml(v, False)) for k, v in self.template_vars.items()]
        lines += ["%s: %s" % (json.dumps(k), _unsafe_yaml(v, True)) for k, v in self.artifacts.items()]
        (pdd / "env" / "extravars").write_text("---\n" + "\n".join(lines) + "\n", encoding="utf-8")
        return pdd

    def run(self, playbook: str, expect: str = "successful") -> dict:
        """Run one job; return its ``playbook_on_stats`` event data (``changed``, ``artifact_data`` ...)."""
        name = Path(playbook).stem
        pdd = self._private_data_dir(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(PATH=str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
                   ANSIBLE_LOCAL_TEMP=str(pdd / "tmp-local"), ANSIBLE_REMOTE_TEMP=str(pdd / "tmp-remote"),
                   ANSIBLE_NOCOLOR="1")
        proc = subprocess.run([self.runner, "run", str(pdd), "-p", f"playbooks/{playbook}", "--ident", name],
                              capture_output=True, text=True, env=env, timeout=900, stdin=subprocess.DEVNULL)
        art = pdd / "artifacts" / name
        status = (art / "status").read_text().strip() if (art / "status").exists() else "no status"
        explain = f"{playbook}: {status}, rc {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        assert status == expect, explain
        events = [json.loads(Path(f).read_text()) for f in glob.glob(str(art / "job_events" / "*.json"))]
        stats = [e["event_data"] for e in events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, explain
        assert "[WARNING]" not in proc.stdout, explain
        # AWX stores the artifact_data as the job's artifacts; a workflow node hands on those of all its ancestors
        self.artifacts.update(stats[0]["artifact_data"])
        stats[0]["stdout"] = proc.stdout
        return stats[0]


def changed(stats: dict) -> int:
    return sum(stats["changed"].values())


def storage_files(root: Path) -> dict:
    """Every file under the demo's storage, by its dump path, with its size and mtime."""
    return {"/" + str(p.relative_to(root)): (p.lstat().st_size, int(p.lstat().st_mtime))
            for p in root.rglob("*") if not p.is_dir()}


def catalog_listing(db: Path):
    with sqlite3.connect(str(db)) as c:
        return sorted(c.execute("SELECT m.fileid, m.name, m.filesize, r.host, r.sfn, r.status FROM Cns_file_metadata m "
                                "LEFT JOIN Cns_file_replica r ON r.fileid = m.fileid"))


@pytest.fixture
def demo(tmp_path):
    """The demo's data in a directory of its own, seeded by scripts/demo.py."""
    pytest.importorskip("gfal2")
    spec = importlib.util.spec_from_file_location("vapor_demo_script", REPO / "scripts" / "demo.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    where = tmp_path / "demo data"             # a blank in the path, as a site's may have
    script.build(str(where))
    return script, where


def test_check_then_cleanups_chain_through_ansible_runner_with_artifacts_only(tmp_path, demo):
    script, where = demo
    storage, db = where / "storage" / "vo", where / "catalog.db"
    storage0, catalog0 = storage_files(storage), catalog_listing(db)
    dark = sorted("/" + p for p in script.DARK)
    lost = sorted("/" + p for p in script.LOST)

    flow = Workflow(tmp_path / "runner", dict(TEMPLATE_VARS, vapor_demo_dir=str(where)))
    check = flow.run("consistency_check.yml")
    result = check["artifact_data"]["vapor_consistency_check"]["localhost"]
    assert (result["dark"], result["lost"], result["confirmed_dark"]) == (len(dark), len(lost), len(dark))
    assert "stats" not in result and "invocation" not in result
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == where / "consistency" / "se.demo.example" / "runs"
    assert (run_dir / "confirmed_dark.list").read_text().splitlines() == dark
    assert storage_files(storage) == storage0 and catalog_listing(db) == catalog0

    cleanup = flow.run("dark_data_cleanup.yml")
    done = cleanup["artifact_data"]["vapor_dark_data_cleanup"]["localhost"]
    assert sorted(done["deleted"]) == dark and done["counts"]["deleted"] == len(dark), done
    assert changed(cleanup) == 1 and done["journal"].startswith(str(run_dir) + "/")
    after = storage_files(storage)
    # exactly the dark files are gone; every other file is as it was (size and mtime)
    assert sorted(set(storage0) - set(after)) == dark
    assert after == {p: storage0[p] for p in after}
    assert catalog_listing(db) == catalog0

    cleanup = flow.run("catalog_cleanup.yml")
    done = cleanup["artifact_data"]["vapor_catalog_cleanup"]["localhost"]
    assert [r["path"] for r in done["removed"]] == lost and done["removed_entries"] == len(lost), done
    assert changed(cleanup) == 1
    catalog1 = catalog_listing(db)
    assert [row for row in catalog0 if row not in catalog1] == \
        [row for row in catalog0 if row[1] == os.path.basename(lost[0])]
    assert not [row for row in catalog1 if row not in catalog0]
    assert storage_files(storage) == after

    # the same chain again: the check records a new run (by design) that finds the storage element consistent,
    # and the cleanups, handed that run, have nothing to do
    again = Workflow(tmp_path / "runner-again", dict(TEMPLATE_VARS, vapor_demo_dir=str(where)))
    result = again.run("consistency_check.yml")["artifact_data"]["vapor_consistency_check"]["localhost"]
    assert (result["dark"], result["lost"]) == (0, 0) and Path(result["run_dir"]) != run_dir
    for playbook in ("dark_data_cleanup.yml", "catalog_cleanup.yml"):
        assert changed(again.run(playbook)) == 0, playbook
    # and the first chain's cleanups, run again on their run, find everything done (their journals)
    for playbook in ("dark_data_cleanup.yml", "catalog_cleanup.yml"):
        assert changed(flow.run(playbook)) == 0, playbook
    assert storage_files(storage) == after and catalog_listing(db) == catalog1


def test_dumps_chain_into_a_site_published_check(tmp_path, demo):
    """catalog dump -> storage dump -> check with consistency_mode=site_published: the check compares the dump the
    storage_dump job published (its artifact, for this host) after the catalog dump the catalog_dump job made."""
    script, where = demo
    flow = Workflow(tmp_path / "runner", dict(TEMPLATE_VARS, vapor_demo_dir=str(where),
                                              consistency_mode="site_published",
                                              storage_dump_name="dump_%Y%m%d_%H%M%S"))   # to the second
    catalog = flow.run("catalog_dump.yml")["artifact_data"]["vapor_catalog_dump"]["localhost"]
    time.sleep(1.1)                           # the site's dump is named to the second, after the catalog dump
    site = flow.run("storage_dump.yml")["artifact_data"]["vapor_storage_dump"]["localhost"]
    assert site["published"] and site["files"] == len(script.CONSISTENT) + len(script.DARK)
    time.sleep(1.1)
    result = flow.run("consistency_check.yml")["artifact_data"]["vapor_consistency_check"]["localhost"]
    assert (result["dark"], result["lost"]) == (len(script.DARK), len(script.LOST))
    inputs = json.loads(Path(result["files"]["stats"]).read_text())["inputs"]
    assert inputs["storage_dump"]["path"] == site["dump"]
    assert inputs["catalog_before"]["path"] == catalog["dump"]


def test_a_cleanup_with_no_run_fails_in_one_sentence(tmp_path, demo):
    """No artifact of a check (and no consistency_run): the cleanup acts on nothing and says why."""
    _script, where = demo
    flow = Workflow(tmp_path / "runner", dict(TEMPLATE_VARS, vapor_demo_dir=str(where)))
    flow.artifacts["vapor_consistency_check"] = {"another-host": {"run_dir": str(where)}}
    res = flow.run("dark_data_cleanup.yml", expect="failed")
    assert "No consistency run for localhost: give consistency_run" in res["stdout"]
