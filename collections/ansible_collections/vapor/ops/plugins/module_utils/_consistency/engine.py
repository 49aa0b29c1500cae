# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The comparison engine (DuckDB, embedded, out-of-core): SQL normalisation of paths, the engine and its one
# sentence for DuckDB errors, compare() (load, count and classify the inputs), and the lists written from it.
#
# Engine (DuckDB, embedded, out-of-core): every input is read exactly once, as a stream of 64-bit
# hashes of its normalised path; path strings are kept only for the few rows that can still end up in
# a list. Plain text and cms dumps are read by DuckDB's parallel CSV reader in place; gzip/bzip2 dumps
# are decompressed by Python into a plain temporary file first (so truncation is always detected and
# the last line can be checked); syncat XML is parsed by the streaming reader of _dump.formats.
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
# Every reader has the same rules (_dump.formats.DumpReader is the reference): lines of at most MAX_LINE bytes
# (checked before the engine reads a file, since DuckDB silently drops a line longer than its buffer), UTF-8, no
# carriage return inside a line, no '..' component. When DuckDB cannot read an input, the Python reader reads it: either it
# gives the one sentence that names the file and the line, or (the input is valid but beyond DuckDB's CSV parser,
# e.g. mixed line ends) it converts the input to a form DuckDB reads, and the run goes on.
#
# Hash collisions (64-bit; about n*m/2**64, some 1e-9 for 20 million paths) can hide an entry (a dark
# file whose hash equals a catalog file's, a lost file whose hash equals a storage file's). They never
# make a file dark: a dark entry's hash matches nothing in either catalog dump. A file could look lost
# only if it is in neither catalog_after nor the storage and its hash equals that of a catalog_after
# file missing from storage; its catalog entry is then already gone.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time
import traceback

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._consistency import gates
from ansible_collections.vapor.ops.plugins.module_utils._consistency.files import create_file
from ansible_collections.vapor.ops.plugins.module_utils._consistency.inputs import fallback_convert, python_check
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import MAX_LINE, sql_literal
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import get_format

try:
    import duckdb
    HAS_DUCKDB = True
    DUCKDB_IMPORT_ERROR = None
except ImportError:  # the module reports it with missing_required_lib
    duckdb = None
    HAS_DUCKDB = False
    DUCKDB_IMPORT_ERROR = traceback.format_exc()

DUCKDB_REQUIREMENT = 'duckdb >= 1.1'


# normalise_path() in SQL. A path with no '//', no '/.' (so no '.' or '..' component, and no hidden name either,
# which is rare), no trailing '/' and not starting with '.' is already normal but for its leading '/': it is used
# as it is, or with '/' put in front; only the others go through the regular expressions. A path with a '..'
# component normalises to NULL: the dump is refused.
_NORM_FAST = "NOT contains(p, '//') AND NOT contains(p, '/.') AND NOT ends_with(p, '/') AND NOT starts_with(p, '.')"
_NORM_SQL = ("CASE WHEN %s THEN (CASE WHEN starts_with(p, '/') THEN p ELSE '/' || p END) "
             "WHEN regexp_matches(p, '(^|/)\\.\\.(/|$)') THEN NULL "
             "ELSE coalesce(nullif(regexp_replace(regexp_replace('/' || p, '(/\\.?)+/', '/', 'g'), '(/\\.?)+$', ''), "
             "''), '/') END" % _NORM_FAST)
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

    def __init__(self, workdir, memory_limit, threads=None, watched=False):
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
            # a progress bar would be printed on stdout, where the module's JSON result goes: when the run is
            # watched, the progress is kept (for query_progress()) but never printed
            if watched:
                self.con.execute('SET enable_progress_bar_print = false')
                self.con.execute('SET enable_progress_bar = true')
            else:
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
                                   "escape='', header=false, auto_detect=false, new_line='\\n')" % sql_literal(probe)).fetchall()
            if got == [('/a\x01b',)]:
                return '\\0'
        except duckdb.Error:
            pass
        finally:
            os.unlink(probe)
        return '\x01'

    def fraction(self):
        """The part done (0..1) of the statement running now, from another thread; None when not known."""
        try:
            value = self.con.query_progress()
        except (duckdb.Error, AttributeError):
            return None
        return min(1.0, value / 100.0) if value is not None and value >= 0 else None

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
        """One input as rows (p, m): p the path as written ('' for a malformed line of a format that marks them),
        m its mtime or NULL. The SQL of a format DuckDB reads is the format object's (_dump/registry.py); the
        'escaped' form is what inputs.prepare() converts the other formats into."""
        path, kind = inp.source
        if kind == 'escaped':
            return ("SELECT %s AS p, m FROM read_csv(%s, columns={'p': 'VARCHAR', 'm': 'BIGINT'}, delim='\\t', "
                    "quote='', escape='', header=false, auto_detect=false, new_line='\\n', max_line_size=%d, "
                    "buffer_size=%d) WHERE p IS NOT NULL" % (_UNESCAPE_SQL, sql_literal(path), MAX_LINE * 2 + 64, 1 << 22))
        # every line is at most MAX_LINE bytes (check_line_lengths), far below the buffer: none can be dropped
        raw = ("read_csv(%s, columns={'line': 'VARCHAR'}, delim='%s', quote='', escape='', header=false, "
               "auto_detect=false, new_line='%s', max_line_size=%d, buffer_size=%d)"
               % (sql_literal(path), self.delim, inp.newline, MAX_LINE + 64, 1 << 22))
        return get_format(kind).duckdb_rows(raw, with_mtime)

    @staticmethod
    def keyed_sql(inp, src, mapping):
        """Rows (h, p, m): h the hash of the comparison key (NULL outside the prefix, 0 for a malformed cms line),
        p the normalised dump path (what the lists hold), m the mtime or NULL."""
        strip, add = mapping
        if strip:
            rel = "CASE WHEN starts_with(n, %s) THEN substr(n, %d) END" % (sql_literal(strip + '/'), len(strip) + 1)
        else:
            rel = 'n'
        key = '%s || rel' % sql_literal(add) if add else 'rel'
        h = 'hash(%s)' % key
        if strip:
            h = 'CASE WHEN rel IS NOT NULL THEN %s END' % h
        h = "CASE WHEN n IS NULL THEN %d::UBIGINT ELSE %s END" % (H_DOTDOT, h)
        if inp.source[1] != 'escaped' and get_format(inp.source[1]).marks_malformed:
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


def _count(eng, table, inp, ctx):
    """Entries, compared entries, unique compared paths, duplicates and entries outside the prefix of one input's
    table; the gates of the stages 'read' (malformed lines, '..' paths) and 'counted' run on it."""
    entries, compared, malformed, dotdot = eng.execute(
        "SELECT count(*), count(h) FILTER (WHERE h > %d), count(*) FILTER (WHERE h = %d), "
        "count(*) FILTER (WHERE h = %d) FROM %s" % (H_DOTDOT, H_MALFORMED, H_DOTDOT, table)).fetchone()
    inp.marks = (malformed, dotdot)
    ctx.current = inp
    gates.check('read', ctx)
    unique = eng.scalar("SELECT count(*) FROM (SELECT DISTINCT h FROM %s WHERE h > %d)" % (table, H_DOTDOT))
    inp.counts = {'entries': int(entries), 'compared': int(unique), 'duplicates': int(compared - unique),
                  'outside': int(entries - compared)}
    if inp.converted:
        inp.counts['read_by'] = 'python'
    gates.check('counted', ctx)
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


class ReadWatch:
    """The comparison's progress (a _common.progress.Progress counting paths): the entries of the inputs read so
    far, all paths estimated from the input sizes once one input is read, the stage and, from a Ticker thread
    (poll()), the part of the statement that runs now."""

    def __init__(self, progress, eng, inputs):
        self.progress = progress
        self.eng = eng
        self.sizes = {}
        for inp in inputs:
            if inp is not None:
                try:
                    self.sizes[inp.label] = os.path.getsize(inp.source[0])
                except OSError:
                    self.sizes[inp.label] = 0
        self.read = 0
        self.read_bytes = 0
        self.current = None

    def per_byte(self):
        return self.read / float(self.read_bytes) if self.read_bytes else None

    def start(self, inp):
        self.current = inp
        self.progress.update(self.read, stage='reading the %s' % inp.label, force=True)

    def end(self, inp):
        self.current = None
        self.read += inp.counts['entries']
        self.read_bytes += self.sizes.get(inp.label, 0)
        per_byte = self.per_byte()
        if per_byte is not None:
            self.progress.set_total(max(self.read, int(per_byte * sum(self.sizes.values()))), 'the input sizes')
        self.progress.update(self.read, force=True)

    def stage(self, words):
        self.progress.update(self.read, stage=words, force=True)

    def poll(self):
        fraction = self.eng.fraction()
        done = self.read
        current, per_byte = self.current, self.per_byte()
        if current is not None and fraction is not None and per_byte is not None:
            done += int(fraction * per_byte * self.sizes.get(current.label, 0))
        self.progress.update(done, fraction=fraction)


def _read(eng, workdir, ctx, inp, table, build):
    """Load one input into ``table`` (the statement ``build()`` returns) and count it."""
    watch = getattr(ctx, 'watch', None)
    if watch is not None:
        watch.start(inp)
    _load(eng, workdir, inp, build)
    _count(eng, table, inp, ctx)
    if watch is not None:
        watch.end(inp)


def _with_companion(eng, workdir, ctx, keyed, hashes, comp, table):
    """``hashes`` (the SQL of a catalog dump's compared hashes) and those of its companion list, read into
    ``table`` when there is one."""
    if comp is not None:
        _read(eng, workdir, ctx, comp, table,
              lambda: "CREATE TEMP TABLE %s AS SELECT h FROM (%s)" % (table, keyed(comp)))
        hashes += ' UNION ALL SELECT h FROM %s WHERE h > %d' % (table, H_DOTDOT)
    return hashes


def compare(eng, p, inputs, timings, workdir=None, ctx=None):
    """Load the inputs and classify; return the SQL of the dark and lost candidates (p, m), sorted by p.

    ``ctx`` is the run's gates.Context (the gates of the stages 'read' and 'counted' run here).
    """
    if ctx is None:
        ctx = gates.Context(None)
        ctx.p = p
    ctx.inputs = inputs
    before, before_c, storage, after, after_c = inputs
    smap, cmap = p['_storage_map'], p['_catalog_map']
    want_m = p['min_age'] > 0 and (storage.source[1] == 'escaped' or get_format(storage.source[1]).has_mtime)

    def keyed(inp):
        mapping = smap if inp is storage else cmap
        return eng.keyed_sql(inp, eng.source_sql(inp, want_m and inp is storage), mapping)

    t = time.time()
    _read(eng, workdir, ctx, after, 'a', lambda: "CREATE TEMP TABLE a AS SELECT h FROM (%s)" % keyed(after))
    catalog_after_all = _with_companion(eng, workdir, ctx, keyed, 'SELECT h FROM a WHERE h > %d' % H_DOTDOT,
                                        after_c, 'ai')
    timings['read_catalog_after'] = round(time.time() - t, 3)

    # storage: the path is kept only where the hash is in neither catalog_after list (and for marked lines)
    t = time.time()
    _read(eng, workdir, ctx, storage, 's', lambda: (
        "CREATE TEMP TABLE s AS SELECT h, CASE WHEN cand THEN p END AS p%s FROM (SELECT h, p, m, "
        "(h <= %d OR NOT (h IN (%s))) AS cand FROM (%s))"
        % (', CASE WHEN cand THEN m END AS m' if want_m else '', H_DOTDOT, catalog_after_all, keyed(storage))))
    timings['read_storage_dump'] = round(time.time() - t, 3)

    # lost candidates: available in catalog_after, not on storage; catalog_before keeps the path for those
    t = time.time()
    eng.execute("CREATE TEMP TABLE c AS SELECT DISTINCT a.h FROM a ANTI JOIN (SELECT h FROM s WHERE h IS NOT NULL) "
                "AS s2 ON a.h = s2.h WHERE a.h > %d" % H_DOTDOT)
    _read(eng, workdir, ctx, before, 'b', lambda: (
        "CREATE TEMP TABLE b AS SELECT h, CASE WHEN h <= %d OR h IN (SELECT h FROM c) THEN p END AS p "
        "FROM (%s)" % (H_DOTDOT, keyed(before))))
    catalog_before_all = _with_companion(eng, workdir, ctx, keyed, 'SELECT h FROM b WHERE h > %d' % H_DOTDOT,
                                         before_c, 'bi')
    timings['read_catalog_before'] = round(time.time() - t, 3)

    t = time.time()
    if getattr(ctx, 'watch', None) is not None:
        ctx.watch.stage('classifying')
    eng.execute("CREATE TEMP TABLE dc AS SELECT h, p%s FROM s WHERE p IS NOT NULL" % (', m' if want_m else ''))
    eng.execute("CREATE TEMP TABLE dhit AS SELECT DISTINCT h FROM (%s) WHERE h IN (SELECT h FROM dc)"
                % catalog_before_all)
    timings['classify'] = round(time.time() - t, 3)
    dark_sql = ("SELECT p, %s FROM dc WHERE h NOT IN (SELECT h FROM dhit) GROUP BY p ORDER BY p"
                % ('max(m)' if want_m else 'NULL'))
    lost_sql = "SELECT p, NULL FROM b WHERE p IS NOT NULL GROUP BY p ORDER BY p"
    return dark_sql, lost_sql


def write_list(eng, sql, path, keep, counters):
    """Stream the rows of ``sql`` (sorted) through ``keep``; write the kept paths one a line; return their count."""
    n = 0
    with create_file(path) as out:
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


def keepers(p, storage):
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
