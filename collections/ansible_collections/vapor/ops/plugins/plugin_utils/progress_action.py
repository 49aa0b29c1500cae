# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The action plugin of the modules that do long work (se_dump, catalog_dump, consistency_check): it starts the
# module in the background on the host (Ansible's async wrapper), reads the module's progress record while it
# runs and shows one line every vapor_progress_interval seconds in the job output (a terminal, or AWX, where the
# lines are job events), then returns the module's result exactly as a plain run would.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import shlex
import time

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.vapor.ops.plugins.module_utils._common.progress import describe, read_record

display = Display()

INTERVAL_VAR = 'vapor_progress_interval'
DEFAULT_INTERVAL = 15.0          # seconds between two progress lines (Ansible's own poll interval)
TIME_LIMIT = 7 * 86400           # the background job's limit when the task sets no timeout
FIRST_CHECKS = (0.2, 0.3, 0.5, 1.0, 2.0, 4.0)    # a short run is not kept waiting for a whole interval
RECORD_NAME = 'vapor-progress.json'
SEPARATOR = '--vapor-progress-record--'
# what the async status adds to a module's result: removed, so that the result is the plain run's
ASYNC_KEYS = ('ansible_job_id', 'started', 'finished', 'results_file', 'erased')


def poll_interval(task_vars):
    """Seconds between two progress lines (the variable vapor_progress_interval); 0 or less: no progress, the
    module runs as a plain task."""
    value = (task_vars or {}).get(INTERVAL_VAR, DEFAULT_INTERVAL)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AnsibleError("The variable %s is %r; give a number of seconds (0 to show no progress)."
                           % (INTERVAL_VAR, value))
    if math.isnan(value):
        raise AnsibleError("The variable %s is not a number; give a number of seconds (0 to show no progress)."
                           % INTERVAL_VAR)
    return value


def check_delays(interval):
    """The waits between two looks at the job: short at first, then ``interval``."""
    for delay in FIRST_CHECKS:
        if delay >= interval:
            break
        yield delay
    while True:
        yield interval


def job_running(text):
    """Whether the async results file's ``text`` says the job still runs (its first record, or nothing yet)."""
    text = text.strip()
    if not text:
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return True             # written by a rename, so never half; be patient with anything odd
    return isinstance(data, dict) and data.get('started') in (1, True) and data.get('finished') in (0, False)


class ProgressLines:
    """Which record to show, and when: one line every ``interval`` seconds while the record is new, and how long
    the count stood still (as seen here, with the controller's clock)."""

    def __init__(self, interval, clock=time.time):
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.next_line = self.started + interval
        self.last_done = None
        self.last_change = self.started
        self.shown = 0

    def line(self, record):
        """The line to show now for ``record`` (a dict or None), or None."""
        now = self.clock()
        if record is not None and record.get('done') != self.last_done:
            self.last_done = record.get('done')
            self.last_change = now
        if record is None or record.get('finished') or now < self.next_line:
            return None         # a finished count is said once, by the line that ends the task
        self.next_line = now + self.interval
        self.shown += 1
        return describe(record, stalled=now - self.last_change)


class ProgressAction(ActionBase):
    """Runs the task's module in the background and shows its progress; a plain run where that cannot be."""

    _supports_check_mode = True
    _supports_async = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        del tmp
        interval = poll_interval(task_vars)
        conn = self._connection
        if self._task.async_val or interval <= 0 or conn.has_native_async or conn.always_pipeline_modules:
            # the task's own async (Ansible polls it), no progress wanted, or a connection that cannot run a job
            # in the background: a plain run
            wrap_async = bool(self._task.async_val) and not conn.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(conn._shell.tmpdir)
            return result
        return merge_hash(result, self._run_watched(task_vars, interval))

    def _record_path(self):
        """Where the module writes its record: the task's temporary directory on the host, or, when the module
        runs as an unprivileged user that cannot write there, a new name in the host's /tmp."""
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        self._watch_tmp = tmpdir
        if self._is_become_unprivileged():
            token = self._connection._shell.get_remote_filename(tmpdir.rstrip('/'))
            return '/tmp/%s-%s' % (token, RECORD_NAME), True
        return self._connection._shell.join_path(tmpdir, RECORD_NAME), False

    def _run_watched(self, task_vars, interval):
        path, own_file = self._record_path()
        args = dict(self._task.args)
        args['progress_file'] = path
        args['progress_interval'] = max(0.1, min(2.0, interval / 2.0))
        limit = int(self._task.timeout) if getattr(self._task, 'timeout', None) else TIME_LIMIT
        saved = self._task.async_val
        self._task.async_val = limit
        try:
            started = self._execute_module(module_args=args, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = saved
        if not started.get('ansible_job_id'):
            # the async wrapper failed before the module started (no job id: an async_dir that cannot be made, a
            # fork refused): the module never ran, so it runs now as a plain task, as it would without progress
            display.vv('%s on %s: no background job (%s); running it as a plain task.'
                       % (self._task.action, task_vars.get('inventory_hostname', '?') if task_vars else '?',
                          to_text(started.get('msg') or 'no job id').strip()))
            self._remove_tmp_path(self._watch_tmp)
            plain = self._execute_module(task_vars=task_vars)
            self._remove_tmp_path(self._connection._shell.tmpdir)
            return plain
        if started.get('failed'):
            return started
        jid, results_file = started['ansible_job_id'], started.get('results_file')
        host = task_vars.get('inventory_hostname', '?') if task_vars else '?'
        name = self._task.action.split('.')[-1]
        lines = ProgressLines(interval)
        record = None
        try:
            for delay in check_delays(interval):
                time.sleep(delay)
                running, seen, status = self._look(results_file, path)
                record = seen or record
                if not running:
                    break
                text = lines.line(record)
                if text:
                    display.display('%s on %s: %s' % (name, host, text))
            final = self._final(jid, task_vars, status)
        finally:
            if own_file:
                self._low_level_execute_command('rm -f %s' % shlex.quote(path), sudoable=True)
        if lines.shown and final.get('rate'):
            rate = final['rate']
            display.display('%s on %s: %s' % (name, host, describe(
                {'unit': rate['unit'], 'done': rate['done'], 'elapsed': rate['seconds'], 'rate': rate['per_second'],
                 'finished': True})))
        return final

    def _look(self, results_file, path):
        """(whether the job still runs, the progress record or None), in one command on the host."""
        cmd = 'cat %s 2>/dev/null; echo; echo %s; cat %s 2>/dev/null' % (
            shlex.quote(results_file), SEPARATOR, shlex.quote(path))
        res = self._low_level_execute_command(cmd, sudoable=True)
        if res.get('rc') not in (0, 1):
            raise AnsibleError("The background job's state cannot be read on the host: %s"
                               % to_text(res.get('stderr') or res.get('stdout') or 'no output').strip())
        out = to_text(res.get('stdout') or '')
        status, _sep, progress = out.partition(SEPARATOR)
        return job_running(status), read_record(progress.strip()) if progress.strip() else None, status

    def _final(self, jid, task_vars, status):
        """The module's result, read by async_status, without the marks of the background run (``status``: the
        results file as last read, whose own keys are kept); its results file removed."""
        async_dir = self._remote_expand_user(self.get_shell_option('async_dir', default='~/.ansible_async'))
        final = self._execute_module(module_name='ansible.legacy.async_status', task_vars=task_vars,
                                     module_args={'jid': jid, '_async_dir': async_dir})
        self._execute_module(module_name='ansible.legacy.async_status', task_vars=task_vars,
                             module_args={'jid': jid, 'mode': 'cleanup', '_async_dir': async_dir})
        self._remove_tmp_path(self._connection._shell.tmpdir)
        try:
            own = json.loads(status)
        except ValueError:
            own = {}
        own = own if isinstance(own, dict) else {}
        for key in ASYNC_KEYS:
            if key in own:
                final[key] = own[key]
            else:
                final.pop(key, None)
        for key in ('stdout', 'stderr', 'stdout_lines', 'stderr_lines'):
            if not final.get(key):
                final.pop(key, None)
        return final
