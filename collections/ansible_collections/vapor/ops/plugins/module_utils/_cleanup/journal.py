# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The journal of a destructive run: an append-only JSON-lines file, fsync'ed record by record.
#
#   {"journal": "vapor.ops", "version": 1, "key": {...}, "created": 1795262266}   first line: what run this is
#   {"item": "/store/a.root", "state": "started", "t": ...}                      written before acting
#   {"item": "/store/a.root", "state": "done", "outcome": "deleted", "t": ...}    written after acting
#
# A run killed between "started" and "done" leaves an item in doubt; the next run looks at the
# storage or catalog again for those items (an item is never acted on twice, never skipped). A
# torn last line (killed mid-write) is ignored. A journal whose key belongs to another run (another
# input list) is refused rather than mixed, unless it records nothing done and nothing in doubt (a run
# that stopped before acting, such as one with a wrong storage URL): that one is started afresh.
#
# One run at a time: a writer holds an exclusive fcntl lock on '<journal>.lock' (released by the kernel
# when the process ends, also on SIGKILL); a second run over the same journal is refused in one sentence.
# Files written here (journal, lock) are created with mode 0600: the paths they hold can name users.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

STARTED = 'started'
DONE = 'done'
FILE_MODE = 0o600


def create_private(path, flags=os.O_WRONLY | os.O_APPEND):
    """Open (creating with mode 0600) a file the cleanups write; a file object for appending."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    return os.fdopen(fd, 'a')


class RunLock:
    """An exclusive lock on '<journal>.lock' for one run (fcntl; the kernel drops it when the process ends)."""

    def __init__(self, journal_path, what):
        self.path = journal_path + '.lock'
        self.fd = None
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except (IOError, OSError) as exc:
            raise VaporError("The lock file '%s' of the journal cannot be created: %s; nothing was done."
                             % (self.path, exc.strerror or exc))
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            os.close(self.fd)
            self.fd = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise VaporError("Another %s is running on the journal '%s' (it holds '%s'); wait for it to end, "
                                 "nothing was done." % (what, journal_path, self.path))
            raise VaporError("The lock file '%s' cannot be locked: %s; nothing was done."
                             % (self.path, exc.strerror or exc))

    def release(self):
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class Journal:

    def __init__(self, path, key, readonly=False, final=()):
        self.path = path
        self.key = key
        self.readonly = readonly
        self.final = tuple(final)
        self.items = {}          # item -> last record
        self.fh = None
        self.replaced = None     # the key of a journal started afresh (it recorded nothing done)
        exists = os.path.exists(path)
        if exists:
            self._load()
            if self.replaced is not None:
                exists = False
        if not readonly:
            flags = os.O_WRONLY | os.O_APPEND | (os.O_TRUNC if self.replaced is not None else 0)
            try:
                self.fh = create_private(path, flags)
            except (IOError, OSError) as exc:
                raise VaporError("The journal '%s' cannot be written: %s." % (path, exc.strerror or exc))
            if not exists:
                self._append({'journal': 'vapor.ops', 'version': 1, 'key': key, 'created': int(time.time())})

    def _load(self):
        try:
            with open(self.path, 'rb') as f:
                data = f.read()
        except (IOError, OSError) as exc:
            raise VaporError("The journal '%s' cannot be read: %s." % (self.path, exc.strerror or exc))
        lines = data.split(b'\n')
        torn = lines.pop()          # '' when the file ends with a newline; else a torn last record
        if torn and not self.readonly:
            with open(self.path, 'r+b') as f:   # drop the torn record so appends start on a clean line
                f.truncate(len(data) - len(torn))
        if not lines:
            raise VaporError("The journal '%s' is empty or has no header; move it away to start afresh." % self.path)
        try:
            head = json.loads(lines[0].decode('utf-8'))
        except ValueError:
            raise VaporError("The journal '%s' is not a vapor.ops journal (bad header)." % self.path)
        if head.get('journal') != 'vapor.ops':
            raise VaporError("The journal '%s' is not a vapor.ops journal (bad header)." % self.path)
        for n, line in enumerate(lines[1:], 2):
            if not line:
                continue
            try:
                rec = json.loads(line.decode('utf-8'))
                self.items[rec['item']] = rec
            except (ValueError, KeyError, TypeError):
                raise VaporError("The journal '%s' is corrupt at line %d." % (self.path, n))
        if head.get('key') != self.key:
            if self.final and not any(r.get('state') == STARTED or r.get('outcome') in self.final
                                      for r in self.items.values()):
                # it records nothing done and nothing in doubt: nothing is lost by starting afresh
                self.replaced = head.get('key')
                self.items = {}
                return
            raise VaporError("The journal '%s' belongs to another run (%s); use a new journal for this input."
                             % (self.path, json.dumps(head.get('key'), sort_keys=True)))

    def _append(self, rec):
        if self.fh is None:
            return
        self.fh.write(json.dumps(rec, sort_keys=True) + '\n')
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def state(self, item):
        rec = self.items.get(item)
        return rec['state'] if rec else None

    def outcome(self, item):
        rec = self.items.get(item)
        return rec.get('outcome') if rec else None

    def in_doubt(self):
        """Items started but not finished by an earlier run."""
        return sorted(i for i, r in self.items.items() if r['state'] == STARTED)

    def start(self, item, **info):
        rec = dict(info, item=item, state=STARTED, t=round(time.time(), 3))
        self.items[item] = rec
        self._append(rec)

    def finish(self, item, outcome, **info):
        rec = dict(info, item=item, state=DONE, outcome=outcome, t=round(time.time(), 3))
        self.items[item] = rec
        self._append(rec)

    def counts(self):
        out = {}
        for rec in self.items.values():
            k = rec.get('outcome') if rec['state'] == DONE else STARTED
            out[k] = out.get(k, 0) + 1
        return out

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
