# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Test-only stdout callback: the whole run as one JSON document on stdout.
# Same layout as ansible.posix.json (plays -> tasks -> hosts, stats), which
# ansible-core does not ship.  Used by tests/ansible_runner.py.
from __future__ import annotations

DOCUMENTATION = """
name: vapor_json
type: stdout
short_description: JSON output of a playbook run, for the vapor.ops tests
description:
  - Prints one JSON document (plays, tasks with per-host results, stats) when the run ends.
"""

import datetime
import json

from ansible.plugins.callback import CallbackBase

try:
    from ansible.module_utils.common.json import AnsibleJSONEncoder
except ImportError:  # pragma: no cover
    from ansible.parsing.ajson import AnsibleJSONEncoder


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "vapor_json"

    def __init__(self, display=None):
        super().__init__(display)
        self.results = []
        self.warnings = []

    def _new_play(self, play):
        return {"play": {"name": play.get_name(), "id": str(play._uuid),
                         "path": str(play.get_path()), "duration": {"start": _now()}},
                "tasks": []}

    def _new_task(self, task, handler=False):
        return {"task": {"name": task.get_name(), "id": str(task._uuid), "action": task.action,
                         "path": str(task.get_path()), "handler": handler,
                         "duration": {"start": _now()}},
                "hosts": {}}

    def v2_playbook_on_play_start(self, play):
        self.results.append(self._new_play(play))

    def v2_runner_on_start(self, host, task):
        pass

    def v2_playbook_on_task_start(self, task, is_conditional):
        if not self.results:
            return
        self.results[-1]["tasks"].append(self._new_task(task))

    def v2_playbook_on_handler_task_start(self, task):
        if not self.results:
            return
        self.results[-1]["tasks"].append(self._new_task(task, handler=True))

    def _record(self, status, result, **extra):
        if not self.results or not self.results[-1]["tasks"]:
            return
        host = result._host
        task = result._task
        res = dict(result._result)
        res.update(extra)
        res["_status"] = status
        res["action"] = task.action
        entry = self.results[-1]["tasks"][-1]
        # include_tasks/loops: the same task object may report several times
        if entry["task"]["id"] != str(task._uuid):
            entry = self._new_task(task)
            self.results[-1]["tasks"].append(entry)
        entry["hosts"][host.get_name()] = res
        entry["task"]["duration"]["end"] = _now()

    def v2_runner_on_ok(self, result, **kwargs):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record("failed", result, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record("unreachable", result)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record("skipped", result)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        summary = {h: stats.summarize(h) for h in hosts}
        custom = {h: stats.custom.get(h, {}) for h in hosts} if hasattr(stats, "custom") else {}
        if self.results:
            self.results[-1]["play"]["duration"]["end"] = _now()
        output = {
            "plays": self.results,
            "stats": summary,
            "custom_stats": custom,
            "global_custom_stats": getattr(stats, "custom", {}).get("_run", {}),
        }
        self._display.display(json.dumps(output, cls=AnsibleJSONEncoder, indent=2, sort_keys=True))
