# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress on long work, through ansible-playbook and ansible-runner: the lines a job shows while a scan runs
(in a terminal, and as AWX job events), the rate in the final result, the runs that show no progress (the task's
own async, vapor_progress_interval=0, a bad value), the progress record in hostile places, idempotence.

No assertion depends on timing. A dCache scan is held still by a lock on t_inodes_checksum (the scanner's files
query joins that table), so the job is known to be running when a progress line is seen; the lock is then released
and the job ends. Timeouts here only guard against a hang.
"""

from __future__ import annotations

import glob
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import ansible_runner
import seed
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import read_record
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump
from test_consistency_check import make_dumps

REPO = ansible_runner.REPO
GUARD = 180                    # seconds: only against a hang, never a measure of anything
NOW = int(time.time())
OLD = NOW - 30 * 86400
DCACHE_TOP = "/pnfs/example.org/data/vo"
# in the root: 12 published files, one ignored (scanned, so counted in the rate, but not published)
DCACHE_FILES = [("%s/store/mc/f%02d.root" % (DCACHE_TOP, i), 100 + i, OLD, "0000%04x" % i) for i in range(12)]
DCACHE_FILES.append(("%s/store/temp/transfer.root" % DCACHE_TOP, 5, OLD, None))
SCANNED = len(DCACHE_FILES)
PUBLISHED = SCANNED - 1

# the line the action plugin shows while the scan runs (progress.describe of the record), and the one that ends it
NUM = r"\d{1,3}(?:,\d{3})*"
DURATION = r"\d+[smhd](?:\d\d[smh])?"
RATE = r"(?:%s|\d+\.\d) files/s" % NUM
RUNNING = re.compile(r"^se_dump on localhost: (?P<stage>scanning [^,]+), (?P<done>%s) files(?: of ~?%s)? in %s"
                     r"(?:, %s)?(?:, about %s left)?(?:, no new count for %s)?$"
                     % (NUM, NUM, DURATION, RATE, DURATION, DURATION))
FINISHED = re.compile(r"^se_dump on localhost: (?P<done>%s) files in %s, finished, %s$" % (NUM, DURATION, RATE))

DUMP_PLAYBOOK = """
- name: Progress
  hosts: all
  gather_facts: false
  tasks:
    - name: Dump
      vapor.ops.se_dump:
        source: dcache
        db: "{{ pt_db }}"
        roots: ["%s"]
        strip_prefix: "%s"
        ignore: ['^/store/temp/']
        dest: "{{ pt_dest }}"
      register: dumped

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ dumped | to_nice_json }}"
        dest: "{{ pt_result }}"
        mode: "0600"
""" % (DCACHE_TOP, DCACHE_TOP)


def number(text):
    return int(text.replace(",", ""))


def dcache_db(postgres, chimera_db):
    seed.seed_chimera(postgres, DCACHE_FILES, dbname=chimera_db)
    # another VO's file, outside the root: never scanned
    seed.seed_chimera(postgres, [("/pnfs/example.org/data/other/x.root", 1, OLD, None)], dbname=chimera_db)
    info = postgres.conninfo(chimera_db)
    return {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
            "database": chimera_db}


class Blocked:
    """The scan's files query held still: an ACCESS EXCLUSIVE lock on t_inodes_checksum in an open transaction."""

    def __init__(self, postgres, dbname):
        self.conn = postgres.root_connect(dbname, autocommit=False)
        self.conn.execute("LOCK TABLE t_inodes_checksum IN ACCESS EXCLUSIVE MODE")
        # another session looks (a transaction sees one snapshot of the activity statistics)
        self.watch = postgres.root_connect(dbname)
        self.released = False

    def waiting(self):
        """How many other sessions wait for a lock in this database (the scanner's files query, once it runs)."""
        return self.watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s "
            "AND wait_event_type = 'Lock'", (self.conn.info.backend_pid,)).fetchone()[0]

    def wait_for_scanner(self, proc):
        """Return once the scanner's files query waits for the lock (``proc``: the job, which must not end)."""
        deadline = time.monotonic() + GUARD
        while not self.waiting():
            assert proc.poll() is None, "the job ended before its scan reached the lock"
            assert time.monotonic() < deadline, "the scan never reached the lock"
            time.sleep(0.1)

    def release(self):
        if not self.released:
            self.released = True
            self.conn.rollback()
            self.conn.close()
            self.watch.close()


@pytest.fixture
def blocked_dcache(postgres, chimera_db):
    db = dcache_db(postgres, chimera_db)
    lock = Blocked(postgres, chimera_db)
    try:
        yield db, lock
    finally:
        lock.release()


def playbook_env(tmp: Path, callback: str = "default") -> dict:
    """The environment tests/ansible_runner.run_playbook gives ansible-playbook, with a chosen stdout callback."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_CALLBACK_PLUGINS": str(ansible_runner.CALLBACK_DIR),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env["PATH"] = str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


class Streamed:
    """A process whose stdout (with stderr) is read line by line in a thread."""

    def __init__(self, cmd, env, cwd):
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = []
        self.queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def drain(self):
        """Take in the lines read so far."""
        while True:
            try:
                line = self.queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self.queue.put(None)
                return
            self.lines.append(line)

    def wait_for(self, pattern, count=1):
        """Read lines until ``count`` of them match ``pattern``; return those."""
        found = []
        deadline = time.monotonic() + GUARD
        while len(found) < count:
            try:
                line = self.queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no line matching %s within the guard; output so far:\n%s"
                                     % (pattern.pattern, "\n".join(self.lines)))
            if line is None:
                raise AssertionError("the process ended before a line matching %s; output:\n%s"
                                     % (pattern.pattern, "\n".join(self.lines)))
            self.lines.append(line)
            if pattern.search(line):
                found.append(line)
        return found

    def finish(self):
        rc = self.proc.wait(timeout=GUARD)
        self.reader.join(timeout=GUARD)
        self.drain()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def inventory(tmp_path):
    return ansible_runner.write_local_inventory(tmp_path / "inv.yml", group="storage")


# ------------------------------------------------------------------------------------------------------------
# 1. lines in a terminal while the job runs


@pytest.mark.compat
def test_progress_lines_appear_while_a_blocked_scan_runs(tmp_path, blocked_dcache):
    db, lock = blocked_dcache
    dest, result = tmp_path / "dumps", tmp_path / "result.json"
    dest.mkdir()
    pb = tmp_path / "pb.yml"
    pb.write_text(DUMP_PLAYBOOK)
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"pt_db": db, "pt_dest": str(dest), "pt_result": str(result),
                                 "vapor_progress_interval": 0.3}))
    cmd = [ansible_runner.ansible_playbook_bin(), "-i", str(inventory(tmp_path)), "-e", "@%s" % extra, str(pb)]
    run = Streamed(cmd, playbook_env(tmp_path), REPO)
    try:
        lock.wait_for_scanner(run.proc)
        run.drain()
        # two new lines while the scan waits for the lock: the job is running (it cannot end while the lock is held)
        seen = run.wait_for(re.compile(r"^se_dump on localhost: "), count=2)
        assert run.proc.poll() is None, "the job ended while its scan was blocked"
        assert lock.waiting() >= 1, "the scanner is no longer waiting for the lock"
        assert not (dest / "latest").exists(), "a dump was published while the scan was blocked"
    finally:
        lock.release()
    try:
        rc = run.finish()
    finally:
        run.kill()
    out = "\n".join(run.lines)
    assert rc == 0, out

    for line in seen:
        m = RUNNING.match(line)
        assert m, "not the progress line format: %r" % line
        # nothing could be counted while the files query waited
        assert m.group("stage") == "scanning %s" % DCACHE_TOP and number(m.group("done")) == 0, line
    progress = [ln for ln in run.lines if ln.startswith("se_dump on localhost: ")]
    *during, last = progress
    assert all(RUNNING.match(ln) for ln in during), progress
    # the final line says the count and the rate
    m = FINISHED.match(last)
    assert m and number(m.group("done")) == SCANNED, progress
    assert "[WARNING]" not in out and "[DEPRECATION" not in out, out

    res = json.loads(result.read_text())
    assert res["rate"]["unit"] == "files" and res["rate"]["done"] == SCANNED, res["rate"]
    assert res["rate"]["seconds"] > 0 and res["rate"]["per_second"] is not None
    assert res["files"] == PUBLISHED and res["published"] and res["changed"]
    assert res["excluded"]["ignored"] == 1
    # the result is the module's, without the marks of the background run
    assert not {"ansible_job_id", "results_file", "started", "finished", "erased"} & set(res), sorted(res)
    assert len(list(read_dump(res["dump"]))) == PUBLISHED


# ------------------------------------------------------------------------------------------------------------
# 2. in AWX: the lines are job events


def test_progress_lines_are_job_events_through_ansible_runner(tmp_path, blocked_dcache):
    db, lock = blocked_dcache
    runner = REPO / ".venv" / "bin" / "ansible-runner"
    runner = str(runner) if runner.exists() else shutil.which("ansible-runner")
    assert runner, "ansible-runner is not installed: make venv (requirements-test.txt)"
    dest = tmp_path / "dumps"
    dest.mkdir()
    pdd = tmp_path / "job"
    (pdd / "project").mkdir(parents=True)
    (pdd / "project" / "pb.yml").write_text(DUMP_PLAYBOOK)
    shutil.copy(REPO / "ansible.cfg", pdd / "project" / "ansible.cfg")
    os.symlink(REPO / "collections", pdd / "project" / "collections")
    (pdd / "inventory").mkdir()
    inventory(pdd / "inventory")
    (pdd / "env").mkdir()
    (pdd / "env" / "extravars").write_text(json.dumps({
        "pt_db": db, "pt_dest": str(dest), "pt_result": str(tmp_path / "result.json"),
        "vapor_progress_interval": 0.3}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
               ANSIBLE_LOCAL_TEMP=str(pdd / "tmp-local"), ANSIBLE_REMOTE_TEMP=str(pdd / "tmp-remote"),
               ANSIBLE_NOCOLOR="1")
    log = open(tmp_path / "runner.out", "wb")      # a file, not a pipe nobody reads while the job runs
    proc = subprocess.Popen([runner, "run", str(pdd), "-p", "pb.yml", "--ident", "progress"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    log.close()
    events_dir = pdd / "artifacts" / "progress" / "job_events"

    def events():
        out = []
        for f in glob.glob(str(events_dir / "*.json")):
            if f.endswith("-partial.json"):
                continue
            try:
                out.append(json.loads(Path(f).read_text()))
            except ValueError:        # being written: read at the next look
                continue
        return out

    def progress_events(evs):
        return [e for e in evs if "se_dump on localhost: " in (e.get("stdout") or "")]

    try:
        lock.wait_for_scanner(proc)
        before = len(progress_events(events()))
        # a new progress event while the scan waits for the lock
        deadline = time.monotonic() + GUARD
        while len(progress_events(events())) <= before:
            assert proc.poll() is None, "the job ended with no progress event while its scan was blocked"
            assert time.monotonic() < deadline, "no progress event within the guard"
            time.sleep(0.2)
        assert proc.poll() is None and lock.waiting() >= 1
    finally:
        lock.release()
    try:
        proc.wait(timeout=GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (tmp_path / "runner.out").read_text(errors="replace")
    art = pdd / "artifacts" / "progress"
    assert (art / "status").read_text().strip() == "successful", out[-4000:]
    assert "[WARNING]" not in out, out
    evs = events()
    shown = progress_events(evs)
    # Display output is a 'verbose' event in AWX's job output, one per line
    assert {e["event"] for e in shown} == {"verbose"}, shown
    lines = [e["stdout"].strip() for e in sorted(shown, key=lambda e: e["counter"])]
    assert all(RUNNING.match(ln) for ln in lines[:-1]), lines
    m = FINISHED.match(lines[-1])
    assert m and number(m.group("done")) == SCANNED, lines
    ok = [e["event_data"] for e in evs if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Dump"]
    assert len(ok) == 1, [e["event"] for e in evs]
    rate = ok[0]["res"]["rate"]
    assert rate["unit"] == "files" and rate["done"] == SCANNED, rate
    assert "ansible_job_id" not in ok[0]["res"]


# ------------------------------------------------------------------------------------------------------------
# 3. the consistency check: the rate of the comparison, the same result as a plain run

CHECK_PLAYBOOK = """
- name: Consistency check
  hosts: localhost
  gather_facts: false
  module_defaults:
    vapor.ops.consistency_check:
      catalog_before: "{{ cc_before }}"
      storage_dump: "{{ cc_storage }}"
      catalog_after: "{{ cc_after }}"
      output_dir: "{{ cc_out }}"
      storage_strip_prefix: /pnfs/example.org/data/vo
      ignore: ['^/store/temp/']
      min_age: 1h
      max_dark_fraction: 0.05
      confirm_runs: 2
      confirm_days: 0
  tasks:
    - name: Predict
      vapor.ops.consistency_check:
        run_id: first
      check_mode: true
      register: predicted

    - name: Compare
      vapor.ops.consistency_check:
        run_id: first
"""


def entries_read(stats):
    """The entries of every input (companion lists included) the stats say were read."""
    total = 0
    for role in ("catalog_before", "storage_dump", "catalog_after"):
        inp = stats["inputs"][role]
        total += inp["entries"]
        if inp.get("companion"):
            total += inp["companion"]["entries"]
    return total


# values that differ between two runs on the same inputs by nature (time, where), compared by key only
VOLATILE = {"duration", "durations", "seconds", "per_second", "time", "started", "finished", "temp_dir",
            "run_dir", "files", "output_dir", "invocation", "progress_file", "progress_interval", "path",
            "mtime", "created", "run_time", "now", "time_utc"}


def shape(value, key=None):
    """The keys of ``value`` all the way down, with the values that do not depend on time or place."""
    if key in VOLATILE:
        if isinstance(value, dict):
            return {k: shape(v, k if k in VOLATILE else key) for k, v in value.items()}
        return type(value).__name__
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return value


def differences(a, b, where=""):
    """Where two shapes differ (paths into them)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = ["%s.%s" % (where, k) for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], "%s.%s" % (where, k))
        return out
    return [] if a == b else ["%s: %r != %r" % (where, a, b)]


def test_consistency_check_reports_its_rate_and_the_same_result_as_a_plain_run(tmp_path, run_playbook):
    before, storage, after = make_dumps(tmp_path)
    pb = tmp_path / "check.yml"
    pb.write_text(CHECK_PLAYBOOK)
    results = {}
    for interval in (0.2, 0):
        out = tmp_path / ("runs-%s" % interval)
        res = run_playbook(pb, {"cc_before": before, "cc_storage": storage, "cc_after": after, "cc_out": str(out),
                                "vapor_progress_interval": interval}, inventory="local")
        results[interval] = res
        for task in ("Predict", "Compare"):
            r = res.result(task)
            rate = r["rate"]
            assert rate["unit"] == "paths", rate
            assert rate["done"] == entries_read(r["stats"]) > 0, (rate, r["stats"]["inputs"])
            assert not {"ansible_job_id", "results_file", "started", "finished"} & set(r), sorted(r)
            # watched (a record in the task's temporary directory) or plain (no record)
            record = r["invocation"]["module_args"]["progress_file"]
            assert (record is not None) == (interval > 0), record
        assert "consistency_check on localhost: " not in res.stdout or interval > 0
    watched, plain = results[0.2], results[0]
    for task in ("Predict", "Compare"):
        w, p = watched.result(task), plain.result(task)
        assert sorted(w) == sorted(p)
        assert sorted(w.pop("invocation")["module_args"]) == sorted(p.pop("invocation")["module_args"])
        assert not differences(shape(w), shape(p)), (task, differences(shape(w), shape(p)))
        assert (w["dark"], w["lost"]) == (2, 1)


# ------------------------------------------------------------------------------------------------------------
# 4. runs that show no progress


POSIX_PLAYBOOK = """
- name: Progress
  hosts: all
  gather_facts: false
  tasks:
    - name: Dump
      vapor.ops.se_dump:
        roots: ["{{ pt_root }}"]
        strip_prefix: "{{ pt_root }}"
        dest: "{{ pt_dest }}"
        progress_file: "{{ pt_record | default(omit) }}"
      register: dumped
"""
ASYNC_PLAYBOOK = POSIX_PLAYBOOK.replace("      register: dumped",
                                        "      async: 60\n      poll: 1\n      register: dumped")


def posix_tree(tmp_path, n=5):
    root = tmp_path / "storage"
    for i in range(n):
        p = root / "d" / ("f%d" % i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * (i + 1))
        os.utime(p, (OLD, OLD))
    dest = tmp_path / "dumps"
    dest.mkdir()
    return root, dest


NOT_RETURNED = object()


def progress_file_given(result):
    """The progress_file the module was given, from the result's invocation; NOT_RETURNED where the ansible-core
    line returns no invocation (2.21): the other assertions of the test stand alone there."""
    if "invocation" not in result:
        return NOT_RETURNED
    return result["invocation"]["module_args"]["progress_file"]


@pytest.mark.compat
def test_a_task_with_its_own_async_is_polled_by_ansible(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    pb = tmp_path / "pb.yml"
    pb.write_text(ASYNC_PLAYBOOK)
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "vapor_progress_interval": 0.1},
                       inventory=inventory(tmp_path))
    r = res.result("Dump")
    assert "se_dump on localhost" not in res.stdout
    # Ansible's own async result: its job id and the module's keys
    assert r.get("ansible_job_id") and r.get("finished") in (1, True), sorted(r)
    assert r["files"] == 5 and r["published"] and r["rate"] == dict(r["rate"], unit="files", done=5)
    assert progress_file_given(r) in (None, NOT_RETURNED)


def test_zero_interval_runs_plainly(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    pb = tmp_path / "pb.yml"
    pb.write_text(POSIX_PLAYBOOK)
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "vapor_progress_interval": 0},
                       inventory=inventory(tmp_path))
    r = res.result("Dump")
    assert "se_dump on localhost" not in res.stdout
    assert "ansible_job_id" not in r and r["files"] == 5
    assert r["rate"]["unit"] == "files" and r["rate"]["done"] == 5
    assert progress_file_given(r) in (None, NOT_RETURNED)


@pytest.mark.parametrize("value", ["abc", "nan"])
def test_a_bad_interval_fails_in_one_sentence(tmp_path, run_playbook, value):
    root, dest = posix_tree(tmp_path)
    pb = tmp_path / "pb.yml"
    pb.write_text(POSIX_PLAYBOOK)
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "vapor_progress_interval": value},
                       inventory=inventory(tmp_path), expect_failure=True)
    msg = res.result("Dump")["msg"]
    # ansible-core 2.19 puts "Task failed: " before the message of an error raised by an action plugin
    msg = msg[len("Task failed: "):] if msg.startswith("Task failed: ") else msg
    assert msg.startswith("The variable vapor_progress_interval ") and msg.count(". ") == 0, msg
    assert msg.endswith("give a number of seconds (0 to show no progress)."), msg
    assert list(dest.iterdir()) == []


# ------------------------------------------------------------------------------------------------------------
# 5. the progress record in hostile places (a plain run keeps the user's progress_file)


def test_a_progress_file_that_is_a_link_is_replaced_not_followed(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    record = tmp_path / "record.json"
    record.symlink_to(victim)
    pb = tmp_path / "pb.yml"
    pb.write_text(POSIX_PLAYBOOK)
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "pt_record": str(record),
                            "vapor_progress_interval": 0}, inventory=inventory(tmp_path))
    r = res.result("Dump")
    assert r["published"] and r["files"] == 5
    assert victim.read_text() == "precious\n"
    assert not record.is_symlink()
    rec = read_record(record.read_text())
    assert rec and rec["finished"] and rec["done"] == 5 and rec["unit"] == "files" and rec["job"] == "se_dump"
    assert not r.get("warnings"), r.get("warnings")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("record.json.")] == []


def test_a_progress_file_that_cannot_be_written_is_a_warning(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    record = tmp_path / "no such dir" / "record.json"
    pb = tmp_path / "pb.yml"
    pb.write_text(POSIX_PLAYBOOK)
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "pt_record": str(record),
                            "vapor_progress_interval": 0}, inventory=inventory(tmp_path))
    r = res.result("Dump")
    assert r["published"] and r["files"] == 5 and r["rate"]["done"] == 5
    assert len(list(read_dump(r["dump"]))) == 5
    warnings = [str(w) for w in r.get("warnings", [])]
    assert any("The progress record '%s' could not be written" % record in w for w in warnings), warnings
    assert not record.parent.exists()


# ------------------------------------------------------------------------------------------------------------
# 6. check mode, then the real run, then no change: through the site's playbook, watched

STORAGE_PLAYBOOK = "playbooks/storage_dump.yml"
STORAGE_TASK = "Scan the storage element and publish the dump"


@pytest.mark.compat
def test_watched_storage_dump_is_check_mode_honest_and_idempotent(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    inv = inventory(tmp_path)
    extra = {"storage_dump_source": "posix", "storage_dump_roots": [str(root)], "storage_dump_strip_prefix": str(root),
             "storage_dump_dest": str(dest), "vapor_progress_interval": 0.2}

    check = run_playbook(STORAGE_PLAYBOOK, extra, check=True, diff=True, inventory=inv)
    r = check.result(STORAGE_TASK)
    assert check.changed == 1 and r["changed"] and r["files"] == 5, check.explain()
    assert r["diff"]["before"]["dumps"] == [] and r["diff"]["after"]["dumps"] == [r["name"]]
    assert list(dest.iterdir()) == [], "check mode wrote something"

    real = run_playbook(STORAGE_PLAYBOOK, extra, inventory=inv)
    r = real.result(STORAGE_TASK)
    assert real.changed == 1 and r["published"] and r["rate"]["done"] == 5
    given = progress_file_given(r)
    assert given is NOT_RETURNED or given.endswith("/vapor-progress.json"), given

    again = run_playbook(STORAGE_PLAYBOOK, extra, inventory=inv)
    r2 = again.result(STORAGE_TASK)
    assert again.changed == 0 and not r2["changed"] and not r2["published"], again.explain()
    assert r2["dump"] == r["dump"] and r2["rate"]["done"] == 5


# ------------------------------------------------------------------------------------------------------------
# 7. what a watched run returns besides the rate: the module's failure sentence and its warnings, as a plain run

FAILING_PLAYBOOK = """
- name: Progress
  hosts: all
  gather_facts: false
  tasks:
    - name: Dump
      vapor.ops.se_dump:
        roots: ["{{ pt_root }}"]
        strip_prefix: "{{ pt_root }}"
        dest: "{{ pt_dest }}"
        format: cms
      register: dumped

    - name: Dump a root that is not there
      vapor.ops.se_dump:
        roots: ["{{ pt_root }}/missing"]
        dest: "{{ pt_dest }}-missing"
      register: missing
      ignore_errors: true
"""


@pytest.mark.compat
def test_a_watched_run_returns_the_failure_and_warnings_of_a_plain_run(tmp_path, run_playbook):
    root, _dest = posix_tree(tmp_path)
    (root / "d" / "pi|pe").write_bytes(b"x")          # the cms format cannot carry '|': a warning
    os.utime(root / "d" / "pi|pe", (OLD, OLD))
    pb = tmp_path / "pb.yml"
    pb.write_text(FAILING_PLAYBOOK)
    got = {}
    for interval in (0.2, 0):
        dest = tmp_path / ("dumps-%s" % interval)
        dest.mkdir()
        os.mkdir("%s-missing" % dest)
        res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "vapor_progress_interval": interval},
                           inventory=inventory(tmp_path))
        ok, failed = res.result("Dump"), res.result("Dump a root that is not there")
        assert ok["files"] == 5 and ok["rate"]["done"] == 6
        assert failed["_status"] == "failed" and not failed["changed"], failed
        assert os.listdir("%s-missing" % dest) == []
        given = progress_file_given(ok)
        assert given is NOT_RETURNED or (given is not None) == (interval > 0), given
        got[interval] = ([str(w) for w in ok.get("warnings", [])], failed["msg"])
    assert got[0.2] == got[0], got
    warnings, msg = got[0]
    assert len(warnings) == 1 and "cms format cannot carry" in warnings[0]
    assert msg == "The root '%s/missing' cannot be read: No such file or directory." % root


# ------------------------------------------------------------------------------------------------------------
# the rate documented (RETURN once did not parse: a plain scalar holding ': '), and a bug (see the mark)

MODULES_DIR = REPO / "collections" / "ansible_collections" / "vapor" / "ops" / "plugins" / "modules"


@pytest.mark.parametrize("module", ["se_dump", "catalog_dump", "consistency_check"])
def test_the_rate_is_documented(module):
    import yaml

    text = (MODULES_DIR / ("%s.py" % module)).read_text(encoding="utf-8")
    doc = re.search(r'^RETURN = r?"""(.*?)^"""', text, re.S | re.M).group(1)
    rate = yaml.safe_load(doc)["rate"]
    assert set(rate["contains"]) == {"unit", "done", "seconds", "per_second"}
    assert set(rate["sample"]) == set(rate["contains"])


# Ansible's async wrapper needs a writable async_dir (~/.ansible_async) on the host; where it cannot be made the
# module never started, so the action runs it as a plain task (found by a hostile try: a home that cannot be written)
@pytest.mark.compat
def test_a_watched_run_needs_no_writable_home(tmp_path, run_playbook):
    root, dest = posix_tree(tmp_path)
    pb = tmp_path / "pb.yml"
    pb.write_text(POSIX_PLAYBOOK)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    home = blocker / "home"                    # cannot be created, not even by root
    plain = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest), "vapor_progress_interval": 0},
                         inventory=inventory(tmp_path), env={"HOME": str(home)})
    assert plain.result("Dump")["published"], "a plain run works without a home"
    shutil.rmtree(dest)
    dest.mkdir()
    res = run_playbook(pb, {"pt_root": str(root), "pt_dest": str(dest)}, inventory=inventory(tmp_path),
                       env={"HOME": str(home)})
    r = res.result("Dump")
    assert not r.get("failed"), r.get("msg")
    assert r["published"] and r["files"] == 5


@pytest.mark.parametrize("module", sorted(p.stem for p in MODULES_DIR.glob("*.py")))
def test_no_result_key_is_one_of_the_async_protocol(module):
    """Ansible's async_status takes a result with 'started' and no 'finished' for a job still running, so a module
    returning such a key never ends under `async` (nor under the progress action); ASYNC_KEYS are the protocol's."""
    import yaml

    from ansible_collections.vapor.ops.plugins.plugin_utils.progress_action import ASYNC_KEYS

    text = (MODULES_DIR / ("%s.py" % module)).read_text(encoding="utf-8")
    doc = yaml.safe_load(re.search(r'^RETURN = r?"""(.*?)^"""', text, re.S | re.M).group(1))
    assert not set(doc) & set(ASYNC_KEYS), "%s returns %s" % (module, sorted(set(doc) & set(ASYNC_KEYS)))
