# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The one entry stream every scanner feeds (EntrySink: map, filter, format, count, digest, write).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import Digest, Unrepresentable
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import get_format

SAMPLE_LIMIT = 10
COUNTERS = ('young', 'ignored', 'outside', 'unrepresentable', 'symlinks', 'special', 'vanished')


class EntrySink:
    """Receives (root index, full path, size, mtime, checksum) from a scanner.

    Each entry is mapped (strip/add prefix), filtered (outside the prefix, ignore patterns, min age),
    formatted for the dump, added to the content digest (when one is wanted) and written to
    ``stream`` (None in check mode). Scanners hand in normalised absolute paths.
    """

    def __init__(self, fmt, mapper, efilter, stream, nroots, digest=True):
        self.format = get_format(fmt)
        self.formatter = self.format.record
        self.format_many = self.format.records
        self.mapper = mapper
        self.strip = mapper._strip_str + '/' if mapper.nstrip else ''
        self.cut = len(mapper._strip_str)
        self.prefix = mapper.add
        self.ignore_re = efilter.ignore_re
        self.min_age = efilter.min_age
        self.newest = efilter.newest_mtime
        # a modification time later than now + min_age is no sign of a transfer in progress but a wrong clock
        # or a touch: such a file is listed (counted in c['future']), or it would stay out of every dump
        self.future = self.newest + 2 * self.min_age
        self.stream = stream
        self.write = stream.write if stream is not None else None
        self.want_digest = digest
        self.digest = Digest()
        self.c = dict((k, 0) for k in COUNTERS + ('future',))
        self.future_samples = []
        self.root_files = [0] * nroots
        self.root_bytes = [0] * nroots
        self.samples = []          # (reason, path) for unrepresentable names
        self.errors = []           # one sentence each
        # progress: the entries handed in by this process's scanner (absorbed worker results are not counted
        # again), what worker processes report on the side (``elsewhere``), and the _common.progress.Progress
        # the count goes to (None: not watched)
        self.seen = 0
        self.elsewhere = 0
        self.progress = None

    def tick(self):
        """Hand the count to the progress record when a write is due (cheap otherwise)."""
        progress = self.progress
        if progress is not None and progress.due():
            progress.update(self.seen + self.elsewhere)

    def add(self, root_idx, path, size, mtime, checksum=None):
        self.seen += 1
        if not self.seen & 4095:
            self.tick()
        if self.strip:
            if not path.startswith(self.strip):
                self.c['outside'] += 1
                return
            path = path[self.cut:]
        if self.ignore_re is not None and self.ignore_re.search(path) is not None:
            self.c['ignored'] += 1
            return
        if self.prefix:
            path = self.prefix + path
        if self.min_age and mtime is not None and mtime > self.newest:
            if mtime <= self.future:
                self.c['young'] += 1
                return
            self._future(path, mtime)
        try:
            rec = self.formatter(path, size, mtime, checksum)
        except Unrepresentable as exc:
            self.c['unrepresentable'] += 1
            if len(self.samples) < SAMPLE_LIMIT:
                self.samples.append((str(exc), path.encode('utf-8', 'backslashreplace').decode('utf-8')))
            return
        if self.want_digest:
            self.digest.add(rec)
        if self.write is not None:
            self.write(rec)
        self.root_files[root_idx] += 1
        self.root_bytes[root_idx] += size

    # -- pre-formatted records (scanners that let the database format the records) --------------
    def preformat(self):
        """The format object when a scanner may produce the records itself (the format says how a database
        writes them: its ``dpm``), or None.

        Only when no per-entry decision is left to the sink: no ignore pattern, no minimum age, no
        digest. Path mapping is applied per directory with map_dir().
        """
        if self.ignore_re is not None or self.min_age or self.want_digest or self.format.dpm is None:
            return None
        return self.format

    def map_dir(self, path):
        """Mapped form of a directory path plus '/', or None when its files are outside the strip prefix."""
        full = path.rstrip('/') + '/'
        if self.strip:
            if not full.startswith(self.strip):
                return None
            return self.prefix + full[self.cut:]
        return self.prefix + full

    def add_text(self, root_idx, data, nfiles, nbytes):
        """Append ``nfiles`` records already formatted by the scanner (UTF-8 bytes)."""
        if self.write is not None and data:
            self.write(data)
        self.root_files[root_idx] += nfiles
        self.root_bytes[root_idx] += nbytes
        self.seen += nfiles
        self.tick()

    def add_many(self, root_idx, entries):
        """add() for a list of (path, size, mtime, checksum) of one root, with one write for the lot."""
        if self.want_digest:            # the digest needs each record: take the one-by-one path
            add = self.add
            for path, size, mtime, checksum in entries:
                add(root_idx, path, size, mtime, checksum)
            self.tick()
            return
        self.seen += len(entries)
        strip, prefix = self.strip, self.prefix
        ignore = self.ignore_re.search if self.ignore_re is not None else None
        newest = self.newest if self.min_age else None
        if strip or prefix or ignore is not None or newest is not None:
            c = self.c
            cut = self.cut
            kept = []
            for path, size, mtime, checksum in entries:
                if strip:
                    if not path.startswith(strip):
                        c['outside'] += 1
                        continue
                    path = path[cut:]
                if ignore is not None and ignore(path) is not None:
                    c['ignored'] += 1
                    continue
                if prefix:
                    path = prefix + path
                if newest is not None and mtime is not None and mtime > newest:
                    if mtime <= self.future:
                        c['young'] += 1
                        continue
                    self._future(path, mtime)
                kept.append((path, size, mtime, checksum))
            entries = kept
        rejected = []
        data, n, nbytes = self.format_many(entries, rejected)
        if rejected:
            self.c['unrepresentable'] += len(rejected)
            for why, path in rejected[:max(0, SAMPLE_LIMIT - len(self.samples))]:
                self.samples.append((why, path.encode('utf-8', 'backslashreplace').decode('utf-8')))
        if self.write is not None and data:
            self.write(data)
        self.root_files[root_idx] += n
        self.root_bytes[root_idx] += nbytes
        self.tick()

    def unusable_name(self, directory, name, why=None):
        """A namespace entry no path can name (NULL, empty, '.', '..', holding '/'), or one in such a directory:
        left out, counted with the names the format cannot carry."""
        self.c['unrepresentable'] += 1
        if len(self.samples) < SAMPLE_LIMIT:
            shown = '%s/%r' % (directory if directory is not None else '?', name)
            self.samples.append((why or 'the namespace entry has no usable name (NULL, empty, . or .., or with /)',
                                 shown.encode('utf-8', 'backslashreplace').decode('utf-8')))

    def _future(self, path, mtime):
        self.c['future'] += 1
        if len(self.future_samples) < SAMPLE_LIMIT:
            self.future_samples.append((path.encode('utf-8', 'backslashreplace').decode('utf-8'), mtime))

    @property
    def files(self):
        return sum(self.root_files)

    @property
    def nbytes(self):
        return sum(self.root_bytes)

    def error(self, msg):
        self.errors.append(msg)

    # -- merging the results of worker processes -------------------------------------------------
    def export(self):
        return {'c': self.c, 'root_files': self.root_files, 'root_bytes': self.root_bytes,
                'samples': self.samples, 'future_samples': self.future_samples, 'errors': self.errors,
                'digest': self.digest.state()}

    def absorb(self, exported, part_path=None):
        for k, v in exported['c'].items():
            self.c[k] += v
        for i, v in enumerate(exported['root_files']):
            self.root_files[i] += v
        for i, v in enumerate(exported['root_bytes']):
            self.root_bytes[i] += v
        self.samples.extend(exported['samples'][:max(0, SAMPLE_LIMIT - len(self.samples))])
        self.future_samples.extend(exported['future_samples'][:max(0, SAMPLE_LIMIT - len(self.future_samples))])
        self.errors.extend(exported['errors'])
        self.digest.merge(Digest.from_state(exported['digest']))
        if part_path is not None and self.stream is not None:
            with open(part_path, 'rb') as part:
                shutil.copyfileobj(part, self.stream, 1 << 20)
