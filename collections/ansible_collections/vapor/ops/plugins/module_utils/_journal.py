# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
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
# input list) is refused rather than mixed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError

STARTED = 'started'
DONE = 'done'


class Journal:

    def __init__(self, path, key, readonly=False):
        self.path = path
        self.key = key
        self.readonly = readonly
        self.items = {}          # item -> last record
        self.fh = None
        exists = os.path.exists(path)
        if exists:
            self._load()
        if not readonly:
            try:
                self.fh = open(path, 'a')
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
        if head.get('key') != self.key:
            raise VaporError("The journal '%s' belongs to another run (%s); use a new journal for this input."
                             % (self.path, json.dumps(head.get('key'), sort_keys=True)))
        for n, line in enumerate(lines[1:], 2):
            if not line:
                continue
            try:
                rec = json.loads(line.decode('utf-8'))
            except ValueError:
                raise VaporError("The journal '%s' is corrupt at line %d." % (self.path, n))
            self.items[rec['item']] = rec

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
