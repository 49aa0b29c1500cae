# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The 3-dump consistency check: catalog dump before, storage dump, catalog dump after.
#
#   dark = on storage and in neither catalog dump, whatever the replica state (dump + companion list)
#   lost = available in both catalog dumps and not on storage
#
# so a file registered, created, deleted or removed between the two catalog dumps is never flagged.
#
# Engine (DuckDB, embedded, out-of-core): every input is read exactly once, as a stream of 64-bit
# hashes of its normalised path; path strings are kept only for the few rows that can still end up in
# a list. Plain text and cms dumps are read by DuckDB's parallel CSV reader in place; gzip/bzip2 dumps
# are decompressed by Python into a plain temporary file first (so truncation is always detected and
# the last line can be checked); syncat XML is parsed by the streaming reader of _dumpfmt.
#
#   1. catalog_after -> a(h); its companion -> ai(h)                      hashes only
#   2. storage_dump  -> s(h, p*, m*)        p (and mtime) kept where h is in neither a nor ai
#   3. c = a - s                            hashes of the lost candidates, small
#   4. catalog_before -> b(h, p*)           p kept where h is in c; its companion -> bi(h)
#   5. dark = s rows with p whose h is in neither b nor bi; lost = b rows with p; both small, sorted
#      by DuckDB, then filtered in Python (ignore patterns, min_age, names with line breaks)
#
# h is NULL for an entry outside the strip prefix (not compared, counted), 0 for a malformed cms line and 1
# for a path with a '..' component (the run fails on both, with the sentence of the Python reader, which names
# the line). Paths are normalised in SQL exactly as normalise_path() does; paths that are already normal, with or
# without their leading '/', skip the regular expressions.
#
# Every reader has the same rules (_dumpfmt.DumpReader is the reference): lines of at most MAX_LINE bytes (checked
# before the engine reads a file, since DuckDB silently drops a line longer than its buffer), UTF-8, no carriage
# return inside a line, no '..' component. When DuckDB cannot read an input, the Python reader reads it: either it
# gives the one sentence that names the file and the line, or (the input is valid but beyond DuckDB's CSV parser,
# e.g. mixed line ends) it converts the input to a form DuckDB reads, and the run goes on.
#
# Hash collisions (64-bit; about n*m/2**64, some 1e-9 for 20 million paths) can hide an entry (a dark
# file whose hash equals a catalog file's, a lost file whose hash equals a storage file's). They never
# make a file dark: a dark entry's hash matches nothing in either catalog dump. A file could look lost
# only if it is in neither catalog_after nor the storage and its hash equals that of a catalog_after
# file missing from storage; its catalog entry is then already gone.
#
# Confirmation counts runs over DIFFERENT storage dumps: each run records the SHA-256 of its storage dump's
# uncompressed content and the dump's time; runs whose dumps share a digest or a time count once, and the dump
# times (not the times of the runs) must span confirm_days. A storage dump dated after its run is refused.
#
# Pure Python + DuckDB (guarded import; no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import traceback

from ansible_collections.vapor.ops.plugins.module_utils._common.core import VaporError, normalise_path, parse_duration
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    MAX_LINE, check_line_lengths, companion_path, open_dump)
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import DumpReader
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import detect_format

try:
    import duckdb
    HAS_DUCKDB = True
    DUCKDB_IMPORT_ERROR = None
except ImportError:  # the module reports it with missing_required_lib
    duckdb = None
    HAS_DUCKDB = False
    DUCKDB_IMPORT_ERROR = traceback.format_exc()

DUCKDB_REQUIREMENT = 'duckdb >= 1.1'
ROLES = ('catalog_before', 'storage_dump', 'catalog_after')
RUN_ID_FORMAT = '%Y%m%d_%H%M%S'
SAFE_RUN_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
MEMORY_RE = re.compile(r'^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$', re.IGNORECASE)
DEFAULT_MEMORY_LIMIT = '256MB'
DAY = 86400
WINDOW_SLACK_DAYS = 10
STATS_VERSION = 2                  # 2: inputs.storage_dump.digest; confirmation by distinct storage dumps
FUTURE_SLACK = 300                 # seconds a dump may be dated after its run (clocks of different hosts)
DIR_MODE = 0o750                   # run directories, OUTPUT_DIR itself when created (less the umask)
FILE_MODE = 0o640                  # lists, stats.json, the lock (less the umask): paths can name users
LOCK_NAME = '.lock'
LOCK_WAIT = 600                    # seconds a run waits for another run's confirm-and-publish step

# a date in a file name: %Y%m%d, %Y%m%d_%H%M%S or %Y%m%dT%H%M%SZ
_NAME_TIME_RE = re.compile(r'(?<![0-9])(\d{4})(\d{2})(\d{2})(?:[_T](\d{2})(\d{2})(\d{2})Z?)?(?![0-9])')
_ISO_RE = re.compile(r'^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*'
                     r'(Z|[+-]\d{2}:?\d{2})?\s*$')
_RECORDED_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dump\b[^>]*?\brecorded\s*=\s*["\']([^"\']+)["\']')


# ----------------------------------------------------------------------------------------------
# times

def _utc(ts):
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _epoch(y, mo, d, h=0, mi=0, s=0):
    try:
        datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def time_from_name(name):
    """(start, end) from the last date in a file name; a bare day covers the whole UTC day; or None."""
    found = None
    for m in _NAME_TIME_RE.finditer(name):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4) is not None:
            t = _epoch(y, mo, d, int(m.group(4)), int(m.group(5)), int(m.group(6)))
            if t is not None:
                found = (t, t)
        else:
            t = _epoch(y, mo, d)
            if t is not None:
                found = (t, t + DAY)
    return found


def parse_time(value, name):
    """(start, end) from an option: epoch seconds, ISO 8601 (UTC unless an offset is given), or a name-style date."""
    if value is None or value == '':
        return None
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    text = str(value).strip()
    if re.match(r'^\d{9,}(\.\d*)?$', text):      # epoch seconds; 8 digits alone are a date (below)
        t = float(text)
        return (t, t)
    m = _ISO_RE.match(text)
    if m:
        parts = [int(g) if g else 0 for g in m.groups()[:6]]
        t = _epoch(*parts)
        if t is not None:
            tz = m.group(7)
            if tz and tz != 'Z':
                sign = -1 if tz[0] == '+' else 1
                digits = tz[1:].replace(':', '')
                t += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            if m.group(4) is None:
                return (t, t + DAY)
            return (t, t)
    if re.match(r'^\d{8}([_T]\d{6}Z?)?$', text):
        found = time_from_name(text)
        if found:
            return found
    raise VaporError("The %s '%s' is not a time; give epoch seconds or UTC ISO 8601 such as 2026-11-21T08:00:00Z."
                     % (name, value))


def _describe_time(t):
    lo, hi = t['time'], t['time_until']
    if hi - lo >= DAY:
        return '%s (the whole UTC day, from its %s)' % (_utc(lo)[:10], t['time_source'])
    return '%s (from its %s)' % (_utc(lo), t['time_source'])


# ----------------------------------------------------------------------------------------------
# options

def _prefix(value):
    if value is None or str(value).strip() in ('', '/'):
        return ''
    return normalise_path(str(value))


def _opt(params, name, default):
    value = params.get(name)
    return default if value is None else value


def _number(value, name, what):
    """A finite float from an option, or one sentence (NaN would pass every comparison of the gates)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        v = float('nan')
    if not math.isfinite(v):
        raise VaporError("The %s '%s' is not %s." % (name, value, what))
    return v


def validate(params):
    p = dict(params)
    for role in ROLES:
        if not p.get(role):
            raise VaporError("The option %s is required: give the path of the dump." % role)
    if not p.get('output_dir'):
        raise VaporError("The option output_dir is required: give the directory the runs are written to.")
    for name in ('max_dark_fraction', 'max_lost_fraction'):
        v = _number(_opt(p, name, 0.01), name, 'a fraction between 0 and 1')
        if not 0 <= v <= 1:
            raise VaporError("The %s %s is not a fraction between 0 and 1." % (name, v))
        p[name] = v
    for name, default in (('min_age', '1d'), ('max_dump_age', '7d')):
        value = _opt(p, name, default)
        if isinstance(value, float) and not math.isfinite(value):
            raise VaporError("The %s '%s' is not a duration; give a number of seconds or a value such as '7d', "
                             "'12h'." % (name, value))
        p[name] = parse_duration(value, name)
    runs = _number(_opt(p, 'confirm_runs', 3), 'confirm_runs', 'a positive whole number of runs')
    if runs != int(runs) or runs < 1:
        raise VaporError("The confirm_runs %s is not a positive number of runs." % _opt(p, 'confirm_runs', 3))
    p['confirm_runs'] = int(runs)
    p['confirm_days'] = _number(_opt(p, 'confirm_days', 25), 'confirm_days', 'a number of days')
    if p['confirm_days'] < 0:
        raise VaporError("The confirm_days %s is negative." % p['confirm_days'])
    patterns = []
    for pat in p.get('ignore') or []:
        try:
            patterns.append(re.compile(pat))
        except re.error as exc:
            raise VaporError("The ignore pattern '%s' is not a valid regular expression: %s." % (pat, exc))
    p['_ignore'] = re.compile('|'.join('(?:%s)' % r.pattern for r in patterns)) if patterns else None
    common_strip, common_add = p.get('strip_prefix'), p.get('add_prefix')
    for side in ('storage', 'catalog'):
        strip = p.get(side + '_strip_prefix')
        add = p.get(side + '_add_prefix')
        p['_%s_map' % side] = (_prefix(strip if strip is not None else common_strip),
                               (add if add is not None else common_add or '').rstrip('/'))
    mem = p.get('memory_limit') or DEFAULT_MEMORY_LIMIT
    if not MEMORY_RE.match(str(mem)):
        raise VaporError("The memory_limit '%s' is not a size such as 512MB or 2GB." % mem)
    p['memory_limit'] = str(mem).strip()
    threads = p.get('threads')
    if threads is not None and int(threads) < 1:
        raise VaporError("The threads %s is not a positive number." % threads)
    run_id = p.get('run_id')
    if run_id and (not SAFE_RUN_ID_RE.match(run_id) or run_id.endswith('.failed') or run_id.endswith('.tmp')):
        raise VaporError("The run_id '%s' is not a plain directory name (letters, digits, '_', '.', '-')." % run_id)
    p['_times'] = {}
    for role in ROLES:
        p['_times'][role] = parse_time(p.get(role + '_time'), role + '_time')
    if p.get('run_time') not in (None, ''):
        raise VaporError("The option run_time was removed: a run always happens now, and its storage dump's own time "
                         "is what the confirmation counts.")
    return p


# ----------------------------------------------------------------------------------------------
# inputs

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
        self.ident = None           # (device, inode, size, mtime) when probed

    def info(self):
        d = {'path': self.path, 'size': self.size, 'mtime': self.mtime,
             'mtime_utc': _utc(self.mtime) if self.mtime is not None else None,
             'compression': self.compression, 'format': self.fmt}
        if self.time:
            d.update(self.time)
            d['time_utc'] = _utc(self.time['time'])
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
        raise VaporError("The %s '%s' cannot be read: %s." % (inp.label, path, exc.strerror or exc))
    if not os.path.isfile(path):
        raise VaporError("The %s '%s' is not a regular file." % (inp.label, path))
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
        raise VaporError("The %s '%s' is corrupt: %s." % (inp.label, path, exc))
    finally:
        stream.close()
    if inp.companion_of is not None and inp.fmt == 'syncat':
        raise VaporError("The %s '%s' is XML; a companion list is plain text, one path a line." % (inp.label, path))
    if inp.fmt == 'syncat':
        m = _RECORDED_RE.search(head)
        if m:
            inp.recorded = m.group(1).decode('ascii', 'replace')
    if inp.fmt != 'syncat' and re.match(b'^(\xef\xbb\xbf)?\r(?!\n)', head):
        python_check(inp)           # DuckDB skips a carriage return that starts the file; the reader refuses it
    first = head.split(b'\n', 1)[0]
    inp.newline = '\\r\\n' if first.endswith(b'\r') else '\\n'
    if inp.compression == 'none' and inp.fmt != 'syncat' and inp.size:
        with open(path, 'rb') as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b'\n':
                raise VaporError("The %s '%s' is truncated: its last line has no line end." % (inp.label, path))
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
            raise VaporError("The %s '%s' changed while this run read it (it was replaced, written or removed), so "
                             "the comparison would mix two dumps; run again when the dump is complete."
                             % (inp.label, inp.path))


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
        raise VaporError("The %s '%s' is truncated: its last line has no line end." % (inp.label, inp.path))
    check_line_lengths(dest, inp.path)


def prepare(inp, workdir, index):
    """Decide how the engine reads the input; decompress or convert it into workdir when needed."""
    link = os.path.join(workdir, 'in%d' % index)
    try:
        if inp.fmt == 'syncat':
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
        raise VaporError("The %s '%s' cannot be prepared in the temporary directory '%s': %s."
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
        raise VaporError("The %s '%s' cannot be prepared in the temporary directory '%s': %s."
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
        raise VaporError("The %s '%s' cannot be read: %s." % (inp.label, inp.path, getattr(exc, 'strerror', None) or exc))


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


class _Background(threading.Thread):
    """Runs one function beside the engine (hashlib releases the GIL); result() re-raises its error."""

    def __init__(self, func, *args):
        super(_Background, self).__init__()
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


# ----------------------------------------------------------------------------------------------
# the engine

def _q(text):
    return "'" + text.replace("'", "''") + "'"


# normalise_path() in SQL. A path with no '//', no '/.' (so no '.' or '..' component, and no hidden name either,
# which is rare), no trailing '/' and not starting with '.' is already normal but for its leading '/': it is used
# as it is, or with '/' put in front; only the others go through the regular expressions. A path with a '..'
# component normalises to NULL: the dump is refused.
_NORM_FAST = "NOT contains(p, '//') AND NOT contains(p, '/.') AND NOT ends_with(p, '/') AND NOT starts_with(p, '.')"
_NORM_SQL = ("CASE WHEN %s THEN (CASE WHEN starts_with(p, '/') THEN p ELSE '/' || p END) "
             "WHEN regexp_matches(p, '(^|/)\\.\\.(/|$)') THEN NULL "
             "ELSE coalesce(nullif(regexp_replace(regexp_replace('/' || p, '(/\\.?)+/', '/', 'g'), '(/\\.?)+$', ''), "
             "''), '/') END" % _NORM_FAST)
_CMS_RE = '^(.*)\\|([0-9]+)\\|([0-9]+(?:\\.[0-9]*)?)\\|([^|]*)$'
# undoes _escape(): the escapes of LF, CR and tab, then the backslash ('\\b') last
_UNESCAPE_SQL = ("CASE WHEN contains(p, '\\') THEN replace(replace(replace(replace(p, '\\n', chr(10)), '\\r', chr(13)), "
                 "'\\t', chr(9)), '\\b', '\\') ELSE p END")
H_MALFORMED = 0                    # the hash column's marks (a real hash equal to one: about 1e-19 per path)
H_DOTDOT = 1


def _reason(exc):
    """A DuckDB error as a short clause (no 'Error:' prefix, no advice, no trailing full stop)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines()]
    head = re.sub(r'^[A-Za-z ]*Error: ', '', lines[0] if lines else text)
    m = re.search(r'CSV Error on Line: (\d+)', text)
    if m:
        why = ''
        seen_original = False
        for ln in lines[1:]:
            if ln.startswith('Original Line'):
                seen_original = True
                continue
            if seen_original and ln:
                why = ln
                break
        low = why.lower()
        if 'unicode' in low or 'utf-8' in low:
            why = 'it is not valid UTF-8'
        elif 'line size' in low or 'max_line_size' in low:
            why = 'it is longer than %d bytes' % MAX_LINE
        return 'line %s: %s' % (m.group(1), why.rstrip('.') or 'it cannot be parsed')
    if 'line size' in text.lower():
        return 'a line is longer than %d bytes' % MAX_LINE
    return head.rstrip('.')


class Engine:
    """A DuckDB connection with the collection's settings, and DuckDB errors turned into one sentence."""

    def __init__(self, workdir, memory_limit, threads=None):
        if not HAS_DUCKDB:
            raise VaporError("The Python library duckdb is needed by the consistency check and is not installed.")
        self.memory_limit = memory_limit
        spill = os.path.join(workdir, 'spill')
        os.mkdir(spill)
        config = {'memory_limit': memory_limit, 'temp_directory': spill, 'preserve_insertion_order': False,
                  'autoinstall_known_extensions': False, 'autoload_known_extensions': False}
        if threads:
            config['threads'] = int(threads)
        try:
            self.con = duckdb.connect(':memory:', config=config)
            # a progress bar would be printed on stdout, where the module's JSON result goes
            self.con.execute('SET enable_progress_bar = false')
        except duckdb.Error as exc:
            raise VaporError("The comparison engine cannot start: %s." % _reason(exc))
        self.threads = int(self.scalar("SELECT current_setting('threads')"))
        self.version = duckdb.__version__
        self.delim = self._line_delimiter(workdir)

    def _line_delimiter(self, workdir):
        """A column delimiter that cannot occur in a line: NUL where DuckDB accepts it (newer versions), else 0x01."""
        probe = os.path.join(workdir, 'delim-probe')
        with open(probe, 'wb') as f:
            f.write(b'/a\x01b\n')
        try:
            got = self.con.execute("SELECT * FROM read_csv(%s, columns={'line': 'VARCHAR'}, delim='\\0', quote='', "
                                   "escape='', header=false, auto_detect=false, new_line='\\n')" % _q(probe)).fetchall()
            if got == [('/a\x01b',)]:
                return '\\0'
        except duckdb.Error:
            pass
        finally:
            os.unlink(probe)
        return '\x01'

    def close(self):
        if self.con is not None:
            self.con.close()
            self.con = None

    def execute(self, sql, inp=None):
        try:
            return self.con.execute(sql)
        except duckdb.Error as exc:
            text = str(exc)
            if 'Out of Memory' in text or type(exc).__name__ == 'OutOfMemoryException':
                raise VaporError("The comparison ran out of memory%s (memory_limit=%s); raise memory_limit or "
                                 "point temp_dir at a file system with more free space."
                                 % (" while reading the %s '%s'" % (inp.label, inp.path) if inp else '',
                                    self.memory_limit))
            if inp is not None:
                raise VaporError("The %s '%s' cannot be read: %s." % (inp.label, inp.path, _reason(exc)),
                                 engine_read=True)
            raise VaporError("The comparison engine failed: %s." % _reason(exc))

    def scalar(self, sql, inp=None):
        return self.execute(sql, inp).fetchone()[0]

    def source_sql(self, inp, with_mtime):
        """One input as rows (p, m): p the path as written ('' for a malformed cms line), m its mtime or NULL."""
        path, kind = inp.source
        if kind == 'escaped':
            return ("SELECT %s AS p, m FROM read_csv(%s, columns={'p': 'VARCHAR', 'm': 'BIGINT'}, delim='\\t', "
                    "quote='', escape='', header=false, auto_detect=false, new_line='\\n', max_line_size=%d, "
                    "buffer_size=%d) WHERE p IS NOT NULL" % (_UNESCAPE_SQL, _q(path), MAX_LINE * 2 + 64, 1 << 22))
        # every line is at most MAX_LINE bytes (check_line_lengths), far below the buffer: none can be dropped
        raw = ("read_csv(%s, columns={'line': 'VARCHAR'}, delim='%s', quote='', escape='', header=false, "
               "auto_detect=false, new_line='%s', max_line_size=%d, buffer_size=%d)"
               % (_q(path), self.delim, inp.newline, MAX_LINE + 64, 1 << 22))
        if kind == 'cms':
            m = ("CAST(floor(TRY_CAST(regexp_extract(line, %s, 3) AS DOUBLE)) AS BIGINT)" % _q(_CMS_RE)
                 if with_mtime else 'NULL::BIGINT')
            return ("SELECT regexp_extract(line, %s, 1) AS p, %s AS m FROM %s WHERE line IS NOT NULL "
                    "AND NOT starts_with(line, 'BEGIN TIME') AND NOT starts_with(line, 'END TIME')"
                    % (_q(_CMS_RE), m, raw))
        return "SELECT line AS p, NULL::BIGINT AS m FROM %s WHERE line IS NOT NULL" % raw

    @staticmethod
    def keyed_sql(inp, src, mapping):
        """Rows (h, p, m): h the hash of the comparison key (NULL outside the prefix, 0 for a malformed cms line),
        p the normalised dump path (what the lists hold), m the mtime or NULL."""
        strip, add = mapping
        if strip:
            rel = "CASE WHEN starts_with(n, %s) THEN substr(n, %d) END" % (_q(strip + '/'), len(strip) + 1)
        else:
            rel = 'n'
        key = '%s || rel' % _q(add) if add else 'rel'
        h = 'hash(%s)' % key
        if strip:
            h = 'CASE WHEN rel IS NOT NULL THEN %s END' % h
        h = "CASE WHEN n IS NULL THEN %d::UBIGINT ELSE %s END" % (H_DOTDOT, h)
        if inp.source[1] == 'cms':
            h = "CASE WHEN p = '' THEN %d::UBIGINT ELSE %s END" % (H_MALFORMED, h)
        return ("SELECT %s AS h, n AS p, m FROM (SELECT p, n, m, %s AS rel FROM (SELECT p, m, %s AS n FROM (%s)))"
                % (h, rel, _NORM_SQL, src))


# ----------------------------------------------------------------------------------------------
# the comparison

def map_rel(path, strip):
    """The path as compared, before add_prefix (what ignore patterns see); None outside strip. Same as the SQL.

    ``path`` is a dump path, normalised or not (the lists hold normalised ones).
    """
    n = normalise_path(path)
    if not strip:
        return n
    if n.startswith(strip + '/'):
        return n[len(strip):]
    return None


def _count(eng, table, inp):
    """Entries, compared entries, unique compared paths, duplicates and entries outside the prefix of one input's
    table; fails (with the Python reader's sentence, which names the line) on malformed lines and '..' paths."""
    entries, compared, malformed, dotdot = eng.execute(
        "SELECT count(*), count(h) FILTER (WHERE h > %d), count(*) FILTER (WHERE h = %d), "
        "count(*) FILTER (WHERE h = %d) FROM %s" % (H_DOTDOT, H_MALFORMED, H_DOTDOT, table)).fetchone()
    if malformed or dotdot:
        python_check(inp)           # raises the sentence naming the first bad line
        what = ("%d lines have not the four cms fields path|size|mtime|checksum" % malformed if malformed
                else "%d paths have a '..' component" % dotdot)
        raise VaporError("The %s '%s' cannot be compared: %s." % (inp.label, inp.path, what))
    unique = eng.scalar("SELECT count(*) FROM (SELECT DISTINCT h FROM %s WHERE h > %d)" % (table, H_DOTDOT))
    inp.counts = {'entries': int(entries), 'compared': int(unique), 'duplicates': int(compared - unique),
                  'outside': int(entries - compared)}
    if inp.converted:
        inp.counts['read_by'] = 'python'
    return inp.counts


def _load(eng, workdir, inp, build):
    """Run the CREATE TABLE ``build()`` returns for ``inp``; when DuckDB cannot parse the input, let the Python
    reader decide: its sentence, or the input converted to the escaped form and read again."""
    try:
        eng.execute(build(), inp)
    except VaporError as exc:
        if not exc.context.get('engine_read') or inp.source[1] == 'escaped':
            raise
        python_check(inp)
        fallback_convert(inp, workdir)
        eng.execute(build(), inp)


def compare(eng, p, inputs, timings, workdir=None):
    """Load the inputs and classify; return the SQL of the dark and lost candidates (p, m), sorted by p."""
    before, before_c, storage, after, after_c = inputs
    smap, cmap = p['_storage_map'], p['_catalog_map']
    want_m = p['min_age'] > 0 and storage.source[1] != 'text'

    def keyed(inp):
        mapping = smap if inp is storage else cmap
        return eng.keyed_sql(inp, eng.source_sql(inp, want_m and inp is storage), mapping)

    t = time.time()
    _load(eng, workdir, after, lambda: "CREATE TEMP TABLE a AS SELECT h FROM (%s)" % keyed(after))
    _count(eng, 'a', after)
    catalog_after_all = 'SELECT h FROM a WHERE h > %d' % H_DOTDOT
    if after_c is not None:
        _load(eng, workdir, after_c, lambda: "CREATE TEMP TABLE ai AS SELECT h FROM (%s)" % keyed(after_c))
        _count(eng, 'ai', after_c)
        catalog_after_all += ' UNION ALL SELECT h FROM ai WHERE h > %d' % H_DOTDOT
    timings['read_catalog_after'] = round(time.time() - t, 3)

    # storage: the path is kept only where the hash is in neither catalog_after list (and for marked lines)
    t = time.time()
    _load(eng, workdir, storage, lambda: (
        "CREATE TEMP TABLE s AS SELECT h, CASE WHEN cand THEN p END AS p%s FROM (SELECT h, p, m, "
        "(h <= %d OR NOT (h IN (%s))) AS cand FROM (%s))"
        % (', CASE WHEN cand THEN m END AS m' if want_m else '', H_DOTDOT, catalog_after_all, keyed(storage))))
    _count(eng, 's', storage)
    timings['read_storage_dump'] = round(time.time() - t, 3)
    if storage.counts['entries'] == 0:
        raise VaporError("The storage_dump '%s' is empty: it lists no files, so nothing can be compared."
                         % storage.path)
    if storage.counts['compared'] == 0:
        raise VaporError("None of the %d entries of the storage_dump '%s' is under the storage prefix '%s', "
                         "so nothing can be compared." % (storage.counts['entries'], storage.path, smap[0]))
    _refuse_empty_catalog(after, storage, cmap)

    # lost candidates: available in catalog_after, not on storage; catalog_before keeps the path for those
    t = time.time()
    eng.execute("CREATE TEMP TABLE c AS SELECT DISTINCT a.h FROM a ANTI JOIN (SELECT h FROM s WHERE h IS NOT NULL) "
                "AS s2 ON a.h = s2.h WHERE a.h > %d" % H_DOTDOT)
    _load(eng, workdir, before, lambda: (
        "CREATE TEMP TABLE b AS SELECT h, CASE WHEN h <= %d OR h IN (SELECT h FROM c) THEN p END AS p "
        "FROM (%s)" % (H_DOTDOT, keyed(before))))
    _count(eng, 'b', before)
    _refuse_empty_catalog(before, storage, cmap)
    catalog_before_all = 'SELECT h FROM b WHERE h > %d' % H_DOTDOT
    if before_c is not None:
        _load(eng, workdir, before_c, lambda: "CREATE TEMP TABLE bi AS SELECT h FROM (%s)" % keyed(before_c))
        _count(eng, 'bi', before_c)
        catalog_before_all += ' UNION ALL SELECT h FROM bi WHERE h > %d' % H_DOTDOT
    timings['read_catalog_before'] = round(time.time() - t, 3)

    t = time.time()
    eng.execute("CREATE TEMP TABLE dc AS SELECT h, p%s FROM s WHERE p IS NOT NULL" % (', m' if want_m else ''))
    eng.execute("CREATE TEMP TABLE dhit AS SELECT DISTINCT h FROM (%s) WHERE h IN (SELECT h FROM dc)"
                % catalog_before_all)
    timings['classify'] = round(time.time() - t, 3)
    dark_sql = ("SELECT p, %s FROM dc WHERE h NOT IN (SELECT h FROM dhit) GROUP BY p ORDER BY p"
                % ('max(m)' if want_m else 'NULL'))
    lost_sql = "SELECT p, NULL FROM b WHERE p IS NOT NULL GROUP BY p ORDER BY p"
    return dark_sql, lost_sql


def _refuse_empty_catalog(cat, storage, cmap):
    if cat.counts['compared'] == 0:
        raise VaporError("The %s '%s' lists no available file under the catalog prefix '%s' while the storage_dump "
                         "lists %d, so lost files could not be detected; give a complete catalog dump."
                         % (cat.label, cat.path, cmap[0] or '/', storage.counts['compared']))


def _create(path, binary=False):
    """A new file of mode FILE_MODE (less the umask), opened for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    if binary:
        return os.fdopen(fd, 'wb')
    return io.open(fd, 'w', encoding='utf-8', errors='surrogatepass', newline='\n')


def _write_list(eng, sql, path, keep, counters):
    """Stream the rows of ``sql`` (sorted) through ``keep``; write the kept paths one a line; return their count."""
    n = 0
    with _create(path) as out:
        cur = eng.execute(sql)
        while True:
            rows = cur.fetchmany(10000)
            if not rows:
                break
            buf = []
            for row in rows:
                why = keep(row)
                if why:
                    counters[why] = counters.get(why, 0) + 1
                else:
                    buf.append(row[0])
            if buf:
                n += len(buf)
                out.write('\n'.join(buf) + '\n')
    return n


# ----------------------------------------------------------------------------------------------
# runs and confirmation

class Run:
    """A complete run found in OUTPUT_DIR, as the confirmation sees it."""

    def __init__(self, run_id, path, time_, time_until, digest, run_time=None, mapping=None):
        self.id, self.path = run_id, path
        self.time, self.time_until, self.digest = time_, time_until, digest
        self.run_time = run_time        # the clock of the host when the run was made (no option sets it)
        self.mapping = mapping          # the prefix options the run compared with

    def interval(self):
        """[start, end) of the storage dump's time; an exact time is its second."""
        return self.time, max(self.time_until, self.time + 1)


def list_runs(output_dir):
    """(runs, ignored): the complete runs in output_dir as Run objects sorted by their storage dump's time, and
    (run id, reason) of complete runs that cannot count (recorded before stats version 2: no storage digest)."""
    runs, ignored = [], []
    try:
        names = os.listdir(output_dir)
    except OSError:
        return runs, ignored
    for name in names:
        if name.startswith('.') or name.endswith('.failed') or name.endswith('.tmp'):
            continue
        d = os.path.join(output_dir, name)
        stats_path = os.path.join(d, 'stats.json')
        if not os.path.isfile(stats_path) or not os.path.isfile(os.path.join(d, 'dark.list')):
            continue
        if os.path.islink(d):
            ignored.append((name, 'a symbolic link, not a run directory of this output_dir'))
            continue
        try:
            with open(stats_path) as f:
                stats = json.load(f)
            if stats.get('status') != 'ok' or stats['run'].get('check_mode'):
                continue
            if int(stats.get('version') or 1) < 2:
                ignored.append((name, 'recorded before stats version 2, without the digest of its storage dump'))
                continue
            sd = stats['inputs']['storage_dump']
            digest = sd['digest']
            if not isinstance(digest, str) or not digest:
                raise ValueError('no digest')
            mapping = stats.get('mapping')
            runs.append(Run(name, d, float(sd['time']), float(sd['time_until']), digest,
                            run_time=float(stats['run']['time']),
                            mapping=_mapping_key(mapping) if isinstance(mapping, dict) else None))
        except (OSError, IOError, ValueError, KeyError, TypeError, AttributeError):
            ignored.append((name, 'its stats.json cannot be read'))
            continue
    runs.sort(key=lambda r: (r.time, r.id))
    return runs, sorted(ignored)


MAPPING_KEYS = ('storage_strip_prefix', 'storage_add_prefix', 'catalog_strip_prefix', 'catalog_add_prefix')


def _mapping_key(mapping):
    return tuple(mapping.get(k) or '' for k in MAPPING_KEYS)


def _intersect_sorted(paths, dest):
    """Lines present in every one of the sorted files ``paths``, written to dest; returns their count.

    An unsorted input can only make the result smaller, never add a line that is not in every file.
    """
    files = [open(pth, 'rb') for pth in paths]
    n = 0
    try:
        with _create(dest, binary=True) as out:
            heads = [f.readline() for f in files]
            while all(heads):
                top = max(heads)
                if all(h == top for h in heads):
                    out.write(top if top.endswith(b'\n') else top + b'\n')
                    n += 1
                    heads = [f.readline() for f in files]
                    continue
                for i, f in enumerate(files):
                    while heads[i] and heads[i] < top:
                        heads[i] = f.readline()
    finally:
        for f in files:
            f.close()
    return n


def _overlap(a, b):
    (a0, a1), (b0, b1) = a.interval(), b.interval()
    return a0 < b1 and b0 < a1


def confirm(p, this, output_dir, dark_list, dest):
    """Write the confirmed dark entries to dest (empty when not confirmed); return the stats section.

    ``this`` is the current run (a Run whose path is None). The runs that count are complete runs of OUTPUT_DIR
    over DIFFERENT storage dumps: newest first, a run is taken only if its storage dump's content digest and its
    time (an interval for a dump named by day) differ from those of every run already taken. Only storage dumps
    not newer than this run's and within confirm_days + 10 days of it are looked at. The dump times of the runs
    taken must span confirm_days (from the end of the oldest dump's time to the start of the newest).
    """
    window_days = p['confirm_days'] + WINDOW_SLACK_DAYS
    earliest = this.time - window_days * DAY
    runs, ignored = list_runs(output_dir)
    used, skipped = [this], []
    for r in sorted(runs, key=lambda r: (-r.time, r.id)):
        if r.id == this.id or r.time < earliest or r.time > this.time:
            continue
        if r.mapping is not None and this.mapping is not None and r.mapping != this.mapping:
            skipped.append({'run': r.id, 'reason': 'compared with other prefix options (%s)' % ', '.join(
                '%s=%s' % (k, v or "''") for k, v in zip(MAPPING_KEYS, r.mapping))})
            continue
        same = [u for u in used if u.digest == r.digest]
        if same:
            skipped.append({'run': r.id, 'reason': 'the same storage dump content (digest) as %s'
                            % ('this run' if same[0] is this else 'run ' + same[0].id)})
            continue
        same = [u for u in used if _overlap(u, r)]
        if same:
            skipped.append({'run': r.id, 'reason': 'a storage dump of the same time as %s'
                            % ('this run' if same[0] is this else 'run ' + same[0].id)})
            continue
        used.append(r)
    used.sort(key=lambda r: r.time)
    span = max(0.0, this.time - min(u.time_until for u in used)) if len(used) > 1 else 0.0
    span_days = span / DAY
    # the runs themselves must have been made over the window too: a dump's time comes from its name, an option
    # or its modification time, which anyone can back-date; the time of a run is the host's clock when it ran
    run_span_days = (max(0.0, this.run_time - min(u.run_time for u in used)) / DAY
                     if len(used) > 1 and this.run_time is not None else 0.0)
    info = {'confirm_runs': p['confirm_runs'], 'confirm_days': p['confirm_days'], 'window_days': window_days,
            'runs': [u.id for u in used], 'skipped_runs': skipped,
            'ignored_runs': [{'run': rid, 'reason': why} for rid, why in ignored],
            'dump_times_span_days': round(span_days, 3), 'run_times_span_days': round(run_span_days, 3),
            'storage_dumps': [{'run': u.id, 'time_utc': _utc(u.time), 'digest': u.digest} for u in used]}
    if len(used) < p['confirm_runs']:
        info.update(confirmed=False, reason='%d runs over distinct storage dumps within %g days of this storage '
                    'dump (this one included), fewer than confirm_runs=%d'
                    % (len(used), window_days, p['confirm_runs']))
    elif span_days < p['confirm_days']:
        info.update(confirmed=False, reason='the storage dumps of the %d runs span %.1f days, less than '
                    'confirm_days=%g' % (len(used), span_days, p['confirm_days']))
    elif run_span_days < p['confirm_days']:
        info.update(confirmed=False, reason='the %d runs were made over %.1f days (by the clock of the host), less '
                    'than confirm_days=%g, whatever the times of their storage dumps'
                    % (len(used), run_span_days, p['confirm_days']))
    else:
        info.update(confirmed=True, reason='dark in every one of %d runs over distinct storage dumps spanning %.1f '
                    'days' % (len(used), span_days))
    if not info['confirmed']:
        _create(dest).close()
        info['count'] = 0
        return info
    info['count'] = _intersect_sorted([dark_list] + [u.path and os.path.join(u.path, 'dark.list')
                                                     for u in used if u.path], dest)
    return info


# ----------------------------------------------------------------------------------------------
# run

def _umask_mode(mode):
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _prepare_output_dir(output_dir, check_mode):
    """OUTPUT_DIR must be a directory (created, mode DIR_MODE, when missing and not in check mode)."""
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise VaporError("The output_dir '%s' is not a directory; give the directory the runs are written to."
                         % output_dir)
    if check_mode:
        return
    try:
        os.makedirs(output_dir, DIR_MODE)
    except OSError as exc:
        if exc.errno != errno.EEXIST or not os.path.isdir(output_dir):
            raise VaporError("The output_dir '%s' cannot be written: %s."
                             % (output_dir, getattr(exc, 'strerror', None) or exc))


def _new_dir(parent, prefix, suffix, option):
    """A new private directory in parent (created if missing), or one sentence naming the option."""
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent, DIR_MODE)
        return tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
    except (OSError, IOError) as exc:
        raise VaporError("The %s '%s' cannot be written: %s." % (option, parent, getattr(exc, 'strerror', None) or exc))


class _writing:
    """OSError while writing the lists, the confirmation or stats.json -> one sentence naming the directory."""

    def __init__(self, target, option, p):
        self.target, self.option, self.p = target, option, p

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, (OSError, IOError)):
            return False
        if self.option == 'output_dir':
            where = self.p['output_dir']
        else:
            where = self.p.get('temp_dir') or os.path.dirname(self.target)
        raise VaporError("The %s '%s' cannot be written: %s." % (self.option, where,
                                                                 getattr(exc, 'strerror', None) or exc))


def _write_json(path, data):
    with _create(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write('\n')


class _Lock:
    """OUTPUT_DIR/.lock, held while a run reads the history, picks its run id and publishes its directory."""

    def __init__(self, output_dir, wait=LOCK_WAIT):
        self.path = os.path.join(output_dir, LOCK_NAME)
        self.wait = wait
        self.fd = None

    def __enter__(self):
        try:
            # never through a symbolic link planted in OUTPUT_DIR (O_CREAT would create its target elsewhere)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise VaporError("The lock '%s' is a symbolic link, not a file this module made; remove it."
                                 % self.path)
            raise VaporError("The output_dir '%s' cannot be written: %s."
                             % (os.path.dirname(self.path), exc.strerror or exc))
        deadline = time.time() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.time() > deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise VaporError("Another consistency run has held the lock '%s' for more than %d seconds, so "
                                     "this run was not published; run it again when the other one has finished."
                                     % (self.path, self.wait))
                time.sleep(0.1)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)         # releases the flock
            self.fd = None


def _free_run_id(output_dir, base, fixed):
    """``base`` if neither it nor its .failed directory exists, else base_1, base_2, ... (a fixed run_id fails)."""
    if not os.path.lexists(os.path.join(output_dir, base)):
        return base
    if fixed:
        raise VaporError("The run directory '%s' already exists; give another run_id."
                         % os.path.join(output_dir, base))
    i = 1
    while os.path.lexists(os.path.join(output_dir, '%s_%d' % (base, i))):
        i += 1
    return '%s_%d' % (base, i)


def _publish(tmp, output_dir, run_id, fixed, stats, suffix=''):
    """Under the lock: the run id, stats.json, the mode, and one rename; returns (run id, final path)."""
    with _Lock(output_dir):
        rid = _free_run_id(output_dir, run_id, fixed) if not suffix else run_id
        final = os.path.join(output_dir, rid + suffix)
        stats['run']['id'] = rid
        stats['run']['dir'] = final
        _write_json(os.path.join(tmp, 'stats.json'), stats)
        os.chmod(tmp, _umask_mode(DIR_MODE))       # mkdtemp made it 0700
        if suffix and os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    return rid, final


def _write_failed(output_dir, run_id, stats):
    """Best effort: <run_id>.failed/stats.json, through a temporary directory and a rename."""
    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix='.%s.' % run_id, suffix='.tmp', dir=output_dir)
        _rid, final = _publish(tmp, output_dir, run_id, False, stats, suffix='.failed')
        return final
    except (OSError, IOError, VaporError):
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return None


def _time_gates(p, now, before, storage, after):
    for inp in (storage, before, after):
        if inp.time['time'] > now + FUTURE_SLACK:
            raise VaporError("The %s '%s' is from %s, after this run at %s; a dump cannot be newer than the run that "
                             "reads it, so its time is wrong." % (inp.label, inp.path, _describe_time(inp.time),
                                                                  _utc(now)))
    if p['max_dump_age'] and now - storage.time['time'] > p['max_dump_age']:
        raise VaporError("The storage_dump '%s' is from %s, %.1f days before this run, older than max_dump_age=%d "
                         "seconds; use a fresh dump." % (storage.path, _describe_time(storage.time),
                                                         (now - storage.time['time']) / DAY, p['max_dump_age']))
    if not before.time['time_until'] <= storage.time['time']:
        raise VaporError("The catalog dumps do not bracket the storage dump in time: catalog_before '%s' is from %s, "
                         "not before the storage_dump '%s' from %s." % (
                             before.path, _describe_time(before.time), storage.path, _describe_time(storage.time)))
    if not storage.time['time_until'] <= after.time['time']:
        raise VaporError("The catalog dumps do not bracket the storage dump in time: catalog_after '%s' is from %s, "
                         "not after the storage_dump '%s' from %s." % (
                             after.path, _describe_time(after.time), storage.path, _describe_time(storage.time)))


def _keepers(p, storage):
    ignore = p['_ignore']
    young_after = storage.time['time'] - p['min_age'] if p['min_age'] else None
    sstrip, cstrip = p['_storage_map'][0], p['_catalog_map'][0]

    def keep_dark(row):
        path, mtime = row
        if '\n' in path or '\r' in path:
            return 'dark_unlistable'
        if ignore is not None and ignore.search(map_rel(path, sstrip)):
            return 'dark_ignored'
        if young_after is not None and mtime is not None and mtime > young_after:
            return 'dark_young'
        return None

    def keep_lost(row):
        path = row[0]
        if '\n' in path or '\r' in path:
            return 'lost_unlistable'
        if ignore is not None and ignore.search(map_rel(path, cstrip)):
            return 'lost_ignored'
        return None

    return keep_dark, keep_lost


def _new_stats(p, run_id, now, check_mode):
    return {
        'version': STATS_VERSION, 'status': 'running',
        'run': {'id': run_id, 'time': now, 'time_utc': _utc(now), 'check_mode': bool(check_mode),
                'output_dir': p['output_dir'], 'modes': {'directories': '%04o' % DIR_MODE, 'files': '%04o' % FILE_MODE}},
        'thresholds': {'max_dark_fraction': p['max_dark_fraction'], 'max_lost_fraction': p['max_lost_fraction'],
                       'max_dump_age': p['max_dump_age'], 'min_age': p['min_age'],
                       'confirm_runs': p['confirm_runs'], 'confirm_days': p['confirm_days']},
        'mapping': {'storage_strip_prefix': p['_storage_map'][0], 'storage_add_prefix': p['_storage_map'][1],
                    'catalog_strip_prefix': p['_catalog_map'][0], 'catalog_add_prefix': p['_catalog_map'][1],
                    'ignore': list(p.get('ignore') or [])},
        'durations': {},
        'engine': {'name': 'duckdb', 'version': getattr(duckdb, '__version__', None),
                   'memory_limit': p['memory_limit'], 'threads': p.get('threads'), 'temp_dir': None},
        'inputs': {},
    }


def _candidates(directory, role):
    """(start, end, path) of the dumps in a directory: regular, visible files, not companion lists."""
    try:
        names = os.listdir(directory)
    except OSError as exc:
        raise VaporError("The %s directory '%s' cannot be read: %s." % (role, directory, exc.strerror or exc))
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
            raise VaporError("The storage_dump directory '%s' holds no dump." % storage)
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
                raise VaporError("No catalog dump in '%s' %s the storage dump '%s' (%s); take catalog dumps on a "
                                 "schedule (playbooks/catalog_dump.yml) or one now for catalog_after."
                                 % (directory, where, storage, _utc(st[0]) if st[1] - st[0] < DAY
                                    else _utc(st[0])[:10]))
            chosen[role] = pick
            p[role] = pick
    return chosen


def _load_inputs(p, stats):
    stats['selected'] = select_inputs(p)
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


def run(params, check_mode=False, now=None):
    """Compare the three dumps; write (or, in check mode, only report) one run; return the result dictionary.

    Raises VaporError with one sentence when an input is wrong or a safety gate trips. Nothing that looks like a
    complete run is written then; the stats of the failed run go to ``<run_id>.failed/stats.json``. ``now`` is
    for tests only (the module always runs now).
    """
    started = time.time()
    p = validate(params)
    if now is None:
        now = started
    fixed_id = bool(p.get('run_id'))
    run_id = p.get('run_id') or datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).strftime(RUN_ID_FORMAT)
    p['output_dir'] = output_dir = os.path.abspath(p['output_dir'])
    run_dir = os.path.join(output_dir, run_id)
    stats = _new_stats(p, run_id, now, check_mode)
    timings = stats['durations']
    _prepare_output_dir(output_dir, check_mode)
    if fixed_id and os.path.lexists(run_dir):
        raise VaporError("The run directory '%s' already exists; give another run_id." % run_dir)
    workdir = eng = tmp_run = digest_job = None
    try:
        if not check_mode:              # an output_dir that cannot be written fails now, not after the comparison
            tmp_run = _new_dir(output_dir, '.%s.' % run_id, '.tmp', 'output_dir')
        t = time.time()
        inputs = _load_inputs(p, stats)
        before, _bc, storage, after, _ac = inputs
        timings['probe'] = round(time.time() - t, 3)
        _time_gates(p, now, before, storage, after)
        if storage.size == 0:
            raise VaporError("The storage_dump '%s' is empty: it lists no files, so nothing can be compared."
                             % storage.path)

        t = time.time()
        workdir = _new_dir(p.get('temp_dir') or tempfile.gettempdir(), 'vapor-consistency-', '', 'temp_dir')
        for i, inp in enumerate(inputs):
            if inp is not None:
                prepare(inp, workdir, i)
        timings['prepare'] = round(time.time() - t, 3)
        digest_job = _Background(storage_digest, storage)
        digest_job.start()

        eng = Engine(workdir, p['memory_limit'], p.get('threads'))
        stats['engine'].update(version=eng.version, threads=eng.threads, temp_dir=workdir)
        dark_sql, lost_sql = compare(eng, p, inputs, timings, workdir)
        check_unchanged(inputs)
        for inp in inputs:
            if inp is not None:
                target_stats = stats['inputs'][inp.role]
                if inp.companion_of is not None:
                    target_stats = target_stats['companion']
                target_stats.update(inp.counts)

        # the lists go into the temporary run directory (in check mode: into the work directory, then away)
        t = time.time()
        target = workdir if check_mode else tmp_run
        keep_dark, keep_lost = _keepers(p, storage)
        excluded = {}
        dark_path = os.path.join(target, 'dark.list')
        with _writing(target, 'temp_dir' if check_mode else 'output_dir', p):
            n_dark = _write_list(eng, dark_sql, dark_path, keep_dark, excluded)
            n_lost = _write_list(eng, lost_sql, os.path.join(target, 'lost.list'), keep_lost, excluded)
        eng.close()
        eng = None
        timings['write_lists'] = round(time.time() - t, 3)

        n_storage = storage.counts['compared']
        denom_lost = min(before.counts['compared'], after.counts['compared'])
        dark_fraction = n_dark / float(n_storage)
        lost_fraction = n_lost / float(denom_lost) if denom_lost else 0.0
        stats['counts'] = {'storage_files': n_storage, 'catalog_before_available': before.counts['compared'],
                           'catalog_after_available': after.counts['compared'], 'lost_denominator': denom_lost,
                           'dark': n_dark, 'lost': n_lost, 'excluded': excluded,
                           'duplicates': dict((inp.label.replace(' ', '_'), inp.counts['duplicates'])
                                              for inp in inputs if inp is not None)}
        stats['fractions'] = {'dark': dark_fraction, 'lost': lost_fraction, 'dark_denominator': 'storage_files',
                              'lost_denominator': 'min(catalog_before_available, catalog_after_available)'}
        if dark_fraction > p['max_dark_fraction']:
            raise VaporError("The dark fraction %.4f (%d of %d storage files) is above max_dark_fraction=%g, so the "
                             "inputs look wrong and no list was written."
                             % (dark_fraction, n_dark, n_storage, p['max_dark_fraction']))
        if lost_fraction > p['max_lost_fraction']:
            raise VaporError("The lost fraction %.4f (%d of %d available catalog files) is above max_lost_fraction=%g, "
                             "so the inputs look wrong and no list was written."
                             % (lost_fraction, n_lost, denom_lost, p['max_lost_fraction']))

        t = time.time()
        digest = digest_job.result()
        digest_job = None
        stats['inputs']['storage_dump']['digest'] = digest
        check_unchanged(inputs)
        timings['digest_wait'] = round(time.time() - t, 3)
        this = Run(run_id, None, storage.time['time'], storage.time['time_until'], digest, run_time=now,
                   mapping=_mapping_key(stats['mapping']))
        stats['status'] = 'ok'
        stats['files'] = {'dark': 'dark.list', 'lost': 'lost.list', 'confirmed_dark': 'confirmed_dark.list',
                          'stats': 'stats.json'}
        confirmed_path = os.path.join(target, 'confirmed_dark.list')
        if check_mode:
            with _writing(target, 'temp_dir', p):
                conf = confirm(p, this, output_dir, dark_path, confirmed_path)
        else:
            # the history is read, the run id picked and the run published under one lock
            with _Lock(output_dir), _writing(target, 'output_dir', p):
                run_id = this.id = _free_run_id(output_dir, run_id, fixed_id)
                run_dir = os.path.join(output_dir, run_id)
                conf = confirm(p, this, output_dir, dark_path, confirmed_path)
                stats['run']['id'] = run_id
                stats['confirmation'] = conf
                stats['counts']['confirmed_dark'] = conf['count']
                timings['confirm'] = round(time.time() - t, 3)
                timings['total'] = round(time.time() - started, 3)
                _write_json(os.path.join(tmp_run, 'stats.json'), stats)
                os.chmod(tmp_run, _umask_mode(DIR_MODE))       # mkdtemp made it 0700
                os.rename(tmp_run, run_dir)
                tmp_run = None
        if check_mode:
            stats['confirmation'] = conf
            stats['counts']['confirmed_dark'] = conf['count']
            timings['confirm'] = round(time.time() - t, 3)
            timings['total'] = round(time.time() - started, 3)
    except VaporError as exc:
        stats['status'] = 'failed'
        stats['message'] = exc.msg
        timings['total'] = round(time.time() - started, 3)
        if not check_mode and os.path.isdir(output_dir):
            failed = _write_failed(output_dir, run_id, stats)
            if failed:
                exc.context['failed_stats'] = os.path.join(failed, 'stats.json')
        exc.context.pop('engine_read', None)
        exc.context['stats'] = stats
        raise
    finally:
        if digest_job is not None:
            digest_job.join()
        if eng is not None:
            eng.close()
        if tmp_run is not None:
            shutil.rmtree(tmp_run, ignore_errors=True)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    return {
        'changed': True,
        'run_id': run_id,
        'run_dir': run_dir,
        'dark': stats['counts']['dark'],
        'lost': stats['counts']['lost'],
        'confirmed_dark': stats['counts']['confirmed_dark'],
        'confirmed': stats['confirmation']['confirmed'],
        'dark_fraction': stats['fractions']['dark'],
        'lost_fraction': stats['fractions']['lost'],
        'files': dict((k, os.path.join(run_dir, v)) for k, v in stats['files'].items()),
        'stats': stats,
        'duration': round(time.time() - started, 3),
    }
