# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Progress of long work (a scan, a comparison): a small JSON record rewritten at intervals while the work runs,
# which the collection's action plugins read at each poll and show in the job output (terminal and AWX), and the
# rate that goes into the final result. Pure Python: the storage_dump role copies it to the storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

RECORD_VERSION = 1
INTERVAL = 2.0          # seconds between two writes of the record
WINDOW = 60.0           # the recent rate (and the estimate) is taken over about this many seconds

PROGRESS_OPTIONS = OptionSpec(dict(
    progress_file=dict(type='path'),
    progress_interval=dict(type='float', default=INTERVAL),
))


def from_params(p, job, unit):
    """The Progress of a job whose options ``p`` hold PROGRESS_OPTIONS."""
    interval = p.get('progress_interval')
    if interval is None or not interval > 0:
        interval = INTERVAL
    return Progress(p.get('progress_file'), job, unit, interval=min(float(interval), 3600.0))


class Progress:
    """Counts the work done (``unit``: 'files', 'paths') and keeps the record at ``path`` (None: only counted).

    ``update()`` is cheap enough to call from a hot loop: it writes at most once every ``interval`` seconds
    (``due()`` tells whether a call would write). ``clock`` is for tests. A record that cannot be written stops
    the writing (never the work): the sentence is kept in ``warning``.
    """

    def __init__(self, path, job, unit, total=None, interval=INTERVAL, clock=time.time, window=WINDOW):
        self.path = path
        self.job = job
        self.unit = unit
        self.total = total
        self.total_from = None
        self.interval = interval
        self.clock = clock
        self.window = window
        self.started = clock()
        self.done = 0
        self.stage = None
        self.fraction = None
        self.samples = [(self.started, 0)]
        self.next_at = self.started          # the first update writes
        self.warning = None
        self.lock = threading.Lock()
        self.finished = None
        if path is not None:
            self._write(self.record())

    def due(self):
        return self.path is not None and self.clock() >= self.next_at

    def set_total(self, total, source=None):
        self.total = total
        self.total_from = source

    def update(self, done=None, stage=None, fraction=None, force=False):
        """Record ``done`` (the count so far), the stage in words and the fraction of the stage done (0..1, or
        None when unknown); write the record when it is due (or ``force``)."""
        with self.lock:
            if done is not None:
                self.done = done
            if stage is not None and stage != self.stage:
                self.stage = stage
                self.fraction = None
            if fraction is not None:
                self.fraction = fraction
            now = self.clock()
            if force or now >= self.next_at:
                self._sample(now)
                if self.path is not None:
                    self._write(self.record(now))
                self.next_at = now + self.interval

    def _sample(self, now):
        self.samples.append((now, self.done))
        # keep one sample older than the window, for the recent rate
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.pop(0)

    def rates(self, now):
        """(rate over the whole run, recent rate), per second; None where no time has passed."""
        elapsed = now - self.started
        overall = self.done / elapsed if elapsed > 0 else None
        t0, d0 = self.samples[0]
        recent = (self.done - d0) / (now - t0) if now - t0 > 0 else overall
        return overall, recent

    def record(self, now=None):
        now = self.clock() if now is None else now
        overall, recent = self.rates(now)
        eta = None
        if self.total and recent and self.total > self.done:
            eta = (self.total - self.done) / recent
        return {
            'version': RECORD_VERSION, 'job': self.job, 'unit': self.unit, 'pid': os.getpid(),
            'done': self.done, 'total': self.total, 'total_from': self.total_from,
            'stage': self.stage, 'stage_fraction': self.fraction,
            'started': self.started, 'updated': now, 'elapsed': round(now - self.started, 3),
            'rate': _round(overall), 'recent_rate': _round(recent), 'eta': _round(eta),
            'finished': self.finished is not None,
        }

    def _write(self, record):
        if self.path is None:
            return
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        try:
            # a new file, never one that is there (nor a link's target); then renamed over the record
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o644)
            try:
                os.write(fd, (json.dumps(record, sort_keys=True) + '\n').encode('utf-8'))
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            self.warning = ("The progress record '%s' could not be written (%s); the work went on without it."
                            % (self.path, exc.strerror or exc))
            self.path = None
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def finish(self, done=None):
        """The final count and rate, for the result: {'unit', 'done', 'seconds', 'per_second'}; the record is
        written one last time, marked finished."""
        with self.lock:
            if done is not None:
                self.done = done
            now = self.clock()
            self.finished = now
            self._sample(now)
            if self.path is not None:
                self._write(self.record(now))
        return self.summary()

    def summary(self):
        end = self.finished if self.finished is not None else self.clock()
        seconds = end - self.started
        return {'unit': self.unit, 'done': self.done, 'seconds': round(seconds, 3),
                'per_second': _round(self.done / seconds) if seconds > 0 else None}


class Ticker:
    """Calls ``poll()`` every ``progress.interval`` seconds in a thread while a ``with`` block runs (work that
    cannot count by itself, such as one long database statement). Not for a process that forks workers."""

    def __init__(self, progress, poll):
        self.progress = progress
        self.poll = poll
        self.stopping = threading.Event()
        self.thread = None

    def __enter__(self):
        if self.progress.path is not None:
            self.thread = threading.Thread(target=self._run, name='vapor-progress', daemon=True)
            self.thread.start()
        return self

    def _run(self):
        while not self.stopping.wait(self.progress.interval):
            try:
                self.poll()
            except Exception:   # progress is never worth failing the work for
                return

    def __exit__(self, *exc):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()


def _round(value):
    if value is None:
        return None
    return round(value, 1) if value < 1000 else int(round(value))


def read_record(text):
    """The record in ``text`` (the file's content), or None when it is not one (not written yet, half a write
    by a tool that does not rename, another version)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get('version') != RECORD_VERSION:
        return None
    return record


def count_text(n):
    """1234567 -> '1,234,567'."""
    return '{0:,}'.format(int(n))


def duration_text(seconds):
    """A duration in words a job log can carry: '45s', '3m05s', '2h07m', '1d04h'."""
    s = int(round(seconds))
    if s < 60:
        return '%ds' % s
    if s < 3600:
        return '%dm%02ds' % (s // 60, s % 60)
    if s < 86400:
        return '%dh%02dm' % (s // 3600, (s % 3600) // 60)
    return '%dd%02dh' % (s // 86400, (s % 86400) // 3600)


def rate_text(rate, unit):
    if rate is None:
        return None
    if rate >= 10:
        return '%s %s/s' % (count_text(rate), unit)
    return '%.1f %s/s' % (rate, unit)


def describe(record, stalled=None):
    """One line for the job output: stage, count (of the total), rate, estimate.

    ``stalled``: seconds since the record last changed, as seen by the reader (said when it is long).
    """
    unit = record.get('unit') or 'items'
    parts = []
    if record.get('stage'):
        stage = record['stage']
        if record.get('stage_fraction') is not None:
            stage += ' %d%%' % int(100 * record['stage_fraction'])
        parts.append(stage)
    done = '%s %s' % (count_text(record.get('done') or 0), unit)
    if record.get('total'):
        done += ' of %s%s' % ('~' if record.get('total_from') else '', count_text(record['total']))
    done += ' in %s' % duration_text(record.get('elapsed') or 0)
    parts.append(done)
    rate = record.get('recent_rate') if record.get('recent_rate') is not None else record.get('rate')
    if rate is not None and not record.get('finished'):
        parts.append(rate_text(rate, unit))
    if record.get('eta') is not None and not record.get('finished'):
        parts.append('about %s left' % duration_text(record['eta']))
    if record.get('finished'):
        parts.append('finished, %s' % rate_text(record.get('rate') or 0, unit))
    elif stalled is not None and stalled >= 60:
        parts.append('no new count for %s' % duration_text(stalled))
    return ', '.join(parts)
