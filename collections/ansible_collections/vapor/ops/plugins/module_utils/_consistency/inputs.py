# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The inputs: the dumps chosen (select_inputs), probed (stat, compression, format, time, line ends), prepared
# for the engine (read in place, decompressed or converted), checked unchanged, and the storage dump's digest.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import re
import threading

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._consistency.times import DAY, parse_time, time_from_name, utc
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import check_line_lengths, companion_path, open_dump
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import DumpReader
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import detect_format, get_format

# The sentences of the gates inputs_found, inputs_readable and inputs_unchanged (gates.py), and of an input that
# cannot be prepared in the temporary directory. %s %s are the input's label (its role) and its path.
SENTENCES = dict(
    no_storage_dump="The storage_dump directory '%s' holds no dump.",
    no_catalog_dump="No catalog dump in '%s' %s the storage dump '%s' (%s); take catalog dumps on a schedule "
                    "(playbooks/catalog_dump.yml) or one now for catalog_after.",
    directory_unreadable="The %s directory '%s' cannot be read: %s.",
    unreadable="The %s '%s' cannot be read: %s.",
    not_a_file="The %s '%s' is not a regular file.",
    corrupt="The %s '%s' is corrupt: %s.",
    xml_companion="The %s '%s' is XML; a companion list is plain text, one path a line.",
    truncated="The %s '%s' is truncated: its last line has no line end.",
    changed="The %s '%s' changed while this run read it (it was replaced, written or removed), so the comparison "
            "would mix two dumps; run again when the dump is complete.",
    not_prepared="The %s '%s' cannot be prepared in the temporary directory '%s': %s.",
)


class Input:
    """One dump file as found on disk: compression, format, time, and how the engine reads it."""

    def __init__(self, role, path, companion_of=None):
        self.role = role
        self.path = path
        self.companion_of = companion_of
        self.label = role if companion_of is None else role + ' companion'
        self.size = None
        self.mtime = None
        self.compression = None
        self.fmt = None
        self.newline = '\\n'
        self.recorded = None
        self.time = None            # dict(time, time_until, time_source)
        self.source = None          # (path, kind) for the engine: kind text|cms|escaped
        self.keyed = None           # the SQL that yields (h, p, m) for this input
        self.converted = False      # read through the Python reader because DuckDB could not parse it
        self.counts = {}
        self.marks = (0, 0)          # (malformed cms lines, '..' paths) as the engine read them
        self.ident = None           # (device, inode, size, mtime) when probed

    def info(self):
        d = {'path': self.path, 'size': self.size, 'mtime': self.mtime,
             'mtime_utc': utc(self.mtime) if self.mtime is not None else None,
             'compression': self.compression, 'format': self.fmt}
        if self.time:
            d.update(self.time)
            d['time_utc'] = utc(self.time['time'])
        d.update(self.counts)
        return d


def _relabel(exc, inp):
    """The same sentence, naming the input by its role instead of 'The dump'."""
    msg = exc.msg
    if msg.startswith("The dump '"):
        msg = "The %s '" % inp.label + msg[len("The dump '"):]
    return VaporError(msg)


def probe(inp, override=None):
    """Stat the file, sniff compression and format, find its time; check a plain file's last line end."""
    path = inp.path
    try:
        st = os.stat(path)
    except OSError as exc:
        raise VaporError(SENTENCES['unreadable'] % (inp.label, path, exc.strerror or exc))
    if not os.path.isfile(path):
        raise VaporError(SENTENCES['not_a_file'] % (inp.label, path))
    inp.size, inp.mtime = st.st_size, int(st.st_mtime)
    inp.ident = _ident(st)
    try:
        stream, inp.compression = open_dump(path)
    except VaporError as exc:
        raise _relabel(exc, inp)
    try:
        if not hasattr(stream, 'peek'):
            stream = io.BufferedReader(stream, 1 << 20)
        inp.fmt = detect_format(stream, path)
        head = stream.peek(65536)[:65536]
    except VaporError as exc:
        raise _relabel(exc, inp)
    except (OSError, IOError, EOFError) as exc:
        raise VaporError(SENTENCES['corrupt'] % (inp.label, path, exc))
    finally:
        stream.close()
    fmt = get_format(inp.fmt)
    if inp.companion_of is not None and not fmt.line_format:
        raise VaporError(SENTENCES['xml_companion'] % (inp.label, path))
    inp.recorded = fmt.recorded(head)
    if fmt.duckdb_native and re.match(b'^(\xef\xbb\xbf)?\r(?!\n)', head):
        python_check(inp)           # DuckDB skips a carriage return that starts the file; the reader refuses it
    first = head.split(b'\n', 1)[0]
    inp.newline = '\\r\\n' if first.endswith(b'\r') else '\\n'
    if inp.compression == 'none' and fmt.line_format and inp.size:
        with open(path, 'rb') as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b'\n':
                raise VaporError(SENTENCES['truncated'] % (inp.label, path))
        try:
            check_line_lengths(path)
        except VaporError as exc:
            raise _relabel(exc, inp)
    if inp.companion_of is None:
        inp.time = _input_time(inp, override)
    return inp


def _ident(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def check_unchanged(inputs):
    """Every input is still the file probed at the start: not replaced (a 'latest' link moved on, a new dump renamed
    over it), not appended to or rewritten while the run read it (it would mix two dumps)."""
    for inp in inputs:
        if inp is None:
            continue
        try:
            same = _ident(os.stat(inp.path)) == inp.ident
        except OSError:
            same = False
        if not same:
            raise VaporError(SENTENCES['changed'] % (inp.label, inp.path))


def _input_time(inp, override):
    if override:
        return {'time': override[0], 'time_until': override[1], 'time_source': 'option'}
    for candidate in (os.path.basename(inp.path), os.path.basename(os.path.realpath(inp.path))):
        found = time_from_name(candidate)
        if found:
            return {'time': found[0], 'time_until': found[1], 'time_source': 'file name'}
    if inp.recorded:
        try:
            found = parse_time(inp.recorded, 'recorded attribute')
        except VaporError:
            found = None
        if found:
            return {'time': found[0], 'time_until': found[0], 'time_source': 'recorded attribute'}
    return {'time': inp.mtime, 'time_until': inp.mtime, 'time_source': 'file modification time'}


def _escape(path):
    """One path as a field of the converted form: backslash, LF, CR and tab as two-character escapes.

    A backslash becomes '\\b' (not '\\\\'), so every backslash of the escaped text starts one escape and the
    SQL can undo them one kind after the other, the backslash last, with no placeholder character.
    """
    if '\\' in path:
        path = path.replace('\\', '\\b')
    return path.replace('\n', '\\n').replace('\r', '\\r').replace('\t', '\\t')


def _convert(inp, dest):
    """Any input through the Python reader into 'escaped path<TAB>mtime' lines (syncat; inputs DuckDB cannot parse)."""
    with open(dest, 'w', encoding='utf-8', errors='surrogatepass', newline='\n') as out:
        with DumpReader(inp.path, inp.fmt) as reader:
            buf = []
            for e in reader:
                buf.append('%s\t%s\n' % (_escape(e.path), '' if e.mtime is None else int(e.mtime)))
                if len(buf) >= 10000:
                    out.write(''.join(buf))
                    buf = []
            out.write(''.join(buf))


def _decompress(inp, dest):
    stream, _comp = open_dump(inp.path)
    last = b''
    try:
        with open(dest, 'wb') as out:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                last = chunk[-1:]
    finally:
        stream.close()
    if last and last != b'\n':
        raise VaporError(SENTENCES['truncated'] % (inp.label, inp.path))
    check_line_lengths(dest, inp.path)


def prepare(inp, workdir, index):
    """Decide how the engine reads the input; decompress or convert it into workdir when needed."""
    link = os.path.join(workdir, 'in%d' % index)
    try:
        if not get_format(inp.fmt).duckdb_native:
            _convert(inp, link)
            inp.source = (link, 'escaped')
        elif inp.compression != 'none':
            _decompress(inp, link)
            inp.source = (link, inp.fmt)
        else:
            # read in place through a symbolic link with a plain name (DuckDB treats file names as patterns)
            os.symlink(os.path.abspath(inp.path), link)
            inp.source = (link, inp.fmt)
    except VaporError as exc:
        raise _relabel(exc, inp)
    except (OSError, IOError) as exc:
        raise VaporError(SENTENCES['not_prepared']
                         % (inp.label, inp.path, workdir, getattr(exc, 'strerror', None) or exc))
    return inp


def python_check(inp):
    """Read the whole input with the Python reader: raises its one sentence (relabelled), or returns None."""
    try:
        with DumpReader(inp.path, inp.fmt) as reader:
            for _e in reader:
                pass
    except VaporError as exc:
        raise _relabel(exc, inp)


def fallback_convert(inp, workdir):
    """The input is valid for the Python reader but not for DuckDB's CSV parser: convert it (slower, same result)."""
    dest = os.path.join(workdir, 'conv-%s%s' % (inp.role, '-companion' if inp.companion_of is not None else ''))
    try:
        _convert(inp, dest)
    except VaporError as exc:
        raise _relabel(exc, inp)
    except (OSError, IOError) as exc:
        raise VaporError(SENTENCES['not_prepared']
                         % (inp.label, inp.path, workdir, getattr(exc, 'strerror', None) or exc))
    inp.source = (dest, 'escaped')
    inp.converted = True


def storage_digest(inp):
    """'sha256:<hex>' of the storage dump's uncompressed content (what tells two storage dumps apart)."""
    try:
        return _sha256(inp)
    except VaporError as exc:
        raise _relabel(exc, inp)
    except (OSError, IOError, ValueError) as exc:
        raise VaporError(SENTENCES['unreadable'] % (inp.label, inp.path, getattr(exc, 'strerror', None) or exc))


def _sha256(inp):
    h = hashlib.sha256()
    src, kind = inp.source
    if kind != 'escaped':            # the file itself, or its decompressed copy in the work directory
        # read(), not mmap: mapped pages would count in the process's RSS (1.5 GB for 100 million paths)
        buf = bytearray(1 << 22)
        view = memoryview(buf)
        with open(src, 'rb', buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
    else:
        stream, _comp = open_dump(inp.path)
        try:
            while True:
                chunk = stream.read(1 << 22)
                if not chunk:
                    break
                h.update(chunk)
        finally:
            stream.close()
    return 'sha256:' + h.hexdigest()


class Background(threading.Thread):
    """Runs one function beside the engine (hashlib releases the GIL); result() re-raises its error."""

    def __init__(self, func, *args):
        super(Background, self).__init__()
        self.daemon = True
        self.func, self.args = func, args
        self.value = self.error = None

    def run(self):
        try:
            self.value = self.func(*self.args)
        except Exception as exc:  # re-raised in the caller's thread by result()
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def _candidates(directory, role):
    """(start, end, path) of the dumps in a directory: regular, visible files, not companion lists."""
    try:
        names = os.listdir(directory)
    except OSError as exc:
        raise VaporError(SENTENCES['directory_unreadable'] % (role, directory, exc.strerror or exc))
    out = []
    for name in names:
        full = os.path.join(directory, name)
        if name.startswith('.') or '.inactive' in name or os.path.islink(full) or not os.path.isfile(full):
            continue
        found = time_from_name(name)
        if found is None:
            mtime = os.stat(full).st_mtime
            found = (mtime, mtime)
        out.append((found[0], found[1], full))
    return sorted(out)


def select_inputs(p):
    """Directories given for the inputs become files: the newest storage dump, then the catalog dumps
    that bracket it (the newest one that ends before it starts, the oldest one that starts after it ends).

    This is how a VO uses dumps that sites publish on their own schedule together with the catalog dumps it
    keeps on its own schedule. Times come from the file names (else the modification time).
    """
    chosen = {}
    storage = p['storage_dump']
    if os.path.isdir(storage):
        cands = _candidates(storage, 'storage_dump')
        if not cands:
            raise VaporError(SENTENCES['no_storage_dump'] % storage)
        storage = max(cands, key=lambda c: (c[1], c[0]))[2]
        chosen['storage_dump'] = storage
        p['storage_dump'] = storage
    if os.path.isdir(p['catalog_before']) or os.path.isdir(p['catalog_after']):
        override = p['_times'].get('storage_dump')
        st = override or time_from_name(os.path.basename(storage)) or (os.stat(storage).st_mtime,) * 2
        for role in ('catalog_before', 'catalog_after'):
            directory = p[role]
            if not os.path.isdir(directory):
                continue
            cands = _candidates(directory, role)
            if role == 'catalog_before':
                fit = [c for c in cands if c[1] <= st[0]]
                pick = fit[-1][2] if fit else None
                where = 'ends before'
            else:
                fit = [c for c in cands if c[0] >= st[1]]
                pick = fit[0][2] if fit else None
                where = 'starts after'
            if pick is None:
                raise VaporError(SENTENCES['no_catalog_dump']
                                 % (directory, where, storage, utc(st[0]) if st[1] - st[0] < DAY
                                    else utc(st[0])[:10]))
            chosen[role] = pick
            p[role] = pick
    return chosen


def load_inputs(p, stats):
    """Probe the three inputs (chosen already) and their companion lists; the inputs' section of the stats."""
    before = Input('catalog_before', p['catalog_before'])
    storage = Input('storage_dump', p['storage_dump'])
    after = Input('catalog_after', p['catalog_after'])
    for inp in (before, storage, after):
        probe(inp, p['_times'][inp.role])
        stats['inputs'][inp.role] = inp.info()
    companions = []
    for inp in (before, after):
        comp = None
        for cand in (companion_path(inp.path), companion_path(os.path.realpath(inp.path))):
            if os.path.isfile(cand):
                comp = probe(Input(inp.role, cand, companion_of=inp))
                break
        companions.append(comp)
        stats['inputs'][inp.role]['companion'] = comp.info() if comp else None
    return before, companions[0], storage, after, companions[1]
