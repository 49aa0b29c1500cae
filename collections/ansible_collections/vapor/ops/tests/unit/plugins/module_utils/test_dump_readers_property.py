# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property-based tests (hypothesis) of every dump reader (issue 8 section 4).

- The Python reader (_dumpfmt.DumpReader, what the cleanups read lists with) and the consistency check's
  DuckDB path, on arbitrary bytes in every format (text, cms, syncat) plain, gzip and bzip2: each either reads
  or raises VaporError with one sentence; no other exception type, no engine-internal text.
- The two paths agree: the DuckDB path accepts exactly what the Python reader accepts (each names the file
  when it refuses) and compares the same set of normalised paths when it reads.
- Write-then-read round-trips every name each format can carry.
- The SQL normalisation equals normalise_path() on generated paths ('..' paths: NULL, i.e. refused).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import gzip
import os
import shutil
import tempfile

import pytest

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import has_dotdot, open_compressed_writer
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import DumpReader
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import FORMATS
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

duckdb = pytest.importorskip('duckdb')
from ansible_collections.vapor.ops.plugins.module_utils._consistency import engine as cc_engine  # noqa: E402
from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc_run  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ENGINE_WORDS = ('CSV', 'Parser', 'state machine', 'DuckDB', 'duckdb', 'Exception', 'Traceback', 'sniff', 'Error:',
                'strict_mode')


def one_sentence(msg):
    assert msg and '\n' not in msg, repr(msg)
    assert msg.endswith('.'), msg
    assert not any(w in msg for w in ENGINE_WORDS), msg


def compress(data, compression):
    if compression == 'gzip':
        return gzip.compress(data, mtime=0)
    if compression == 'bzip2':
        return bz2.compress(data)
    return data


# line-oriented bytes that hit the readers' edges: separators, dots, line ends, NUL, invalid UTF-8, XML bits
PIECES = [b'/', b'//', b'.', b'..', b'a', b'b c', b'\xc3\xa9', b'\xe6\x95\xb0', b'|', b'|1|2|ad', b'\n', b'\r\n',
          b'\r', b'\t', b'\x00', b'\xff', b'\xc3', b'BEGIN TIME', b'<', b'>', b'&', b'"', b'<entry name="',
          b'"/>', b'<size>', b'12', b'</entry>', b'<?xml version="1.0"?>', b'<dump recorded="x">', b'</dump>']
structured = st.lists(st.sampled_from(PIECES), max_size=40).map(b''.join)
garbage = st.one_of(st.binary(max_size=300), structured, structured.map(lambda b: b + b'\n'))


def python_read(path, fmt):
    """('ok', [paths]) or ('error', sentence); any other exception fails the test."""
    try:
        with DumpReader(path, fmt) as reader:
            return 'ok', [e.path for e in reader]
    except VaporError as exc:
        return 'error', exc.msg


@settings(max_examples=150, **SETTINGS)
@given(data=garbage, fmt=st.sampled_from((None,) + FORMATS), compression=st.sampled_from(('none', 'gzip', 'bzip2')))
def test_python_reader_reads_or_says_one_sentence(tmp_path, data, fmt, compression):
    path = str(tmp_path / 'dump')
    with open(path, 'wb') as f:
        f.write(compress(data, compression))
    kind, got = python_read(path, fmt)
    if kind == 'error':
        one_sentence(got)
        assert path in got
    else:
        assert all(isinstance(p, str) and not has_dotdot(p) for p in got)


@settings(max_examples=60, **SETTINGS)
@given(data=garbage, compression=st.sampled_from(('none', 'gzip')))
def test_python_reader_on_cut_compressed_streams(tmp_path, data, compression):
    blob = compress(data + b'\n', compression if compression != 'none' else 'bzip2')
    path = str(tmp_path / 'dump')
    with open(path, 'wb') as f:
        f.write(blob[:max(1, len(blob) * 2 // 3)])
    kind, got = python_read(path, None)
    if kind == 'error':
        one_sentence(got)


COMMON = ['/c/%d' % i for i in range(5)]


def _write(path, lines):
    with open(path, 'w') as f:
        f.write(''.join(x + '\n' for x in lines))
    return path


@settings(max_examples=40, **SETTINGS)
@given(data=garbage, compression=st.sampled_from(('none', 'gzip', 'bzip2')))
def test_duckdb_path_agrees_with_the_python_reader(data, compression):
    """The consistency check reads the storage dump as the Python reader does: same refusal, same paths."""
    tmp = tempfile.mkdtemp(prefix='vapor-prop-')
    try:
        storage = os.path.join(tmp, 'dump_20261120_120000')
        with open(storage, 'wb') as f:
            f.write(compress(data, compression))
        before = _write(os.path.join(tmp, 'catalog_20261120_000000'), COMMON)
        after = _write(os.path.join(tmp, 'catalog_20261121_000000'), COMMON)
        kind, got = python_read(storage, None)
        params = {'catalog_before': before, 'storage_dump': storage, 'catalog_after': after,
                  'output_dir': os.path.join(tmp, 'out'), 'temp_dir': os.path.join(tmp, 'tmp'), 'min_age': '0',
                  'max_dark_fraction': 1.0, 'max_lost_fraction': 1.0, 'threads': 1, 'memory_limit': '64MB'}
        try:
            res = cc_run.run(params, check_mode=True, now=1795222800)
        except VaporError as exc:
            one_sentence(exc.msg)
            assert exc.msg.startswith("The storage_dump '%s' " % storage) or exc.msg.startswith("None of the"), exc.msg
            # when the Python reader refuses too, both refuse (a file with several faults may be refused for another
            # of them first); when it reads the file, the check may refuse only an empty or out-of-prefix dump
            if kind != 'error':
                assert not got or exc.msg.startswith("None of the") or ' is empty' in exc.msg, exc.msg
            return
        assert kind == 'ok', got
        assert res['stats']['counts']['storage_files'] == len(set(normalise_path(p) for p in got))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# names: any Unicode text (no surrogates), biased towards separators and the characters formats escape
name_chars = st.one_of(st.characters(blacklist_categories=('Cs',)),
                       st.sampled_from(list(u'/|.\\ \t\n\r"\'<>&é数') + [u'\x00', u'\x01', u'\ufffe']))
names = st.lists(name_chars, min_size=0, max_size=30).map(u''.join)


@settings(max_examples=80, **SETTINGS)
@given(batch=st.lists(names, max_size=12), fmt=st.sampled_from(FORMATS),
       compression=st.sampled_from(('none', 'gzip', 'bzip2')))
def test_write_then_read_round_trips_every_name_a_format_carries(tmp_path, batch, fmt, compression):
    path = str(tmp_path / 'dump')
    written = []
    with open(path, 'wb') as raw:
        stream = open_compressed_writer(raw, compression)
        w = DumpWriter(stream, fmt, recorded='2026-11-20T12:00:00Z')
        for i, name in enumerate(batch):
            if w.add(name, i, 1700000000 + i, '0000abcd') is None:
                written.append((name, None if fmt == 'text' else i))     # text carries names only
        w.close()
        if stream is not raw:
            stream.close()
    with DumpReader(path, fmt) as reader:
        got = [(e.path, e.size) for e in reader]
    assert got == written


# generated paths for the normalisation: components that matter, with or without leading/trailing slashes
COMPONENTS = ['', '.', '..', 'a', 'b', '.h', '...', '..x', 'x..', u'é', u'数据', ' ', 'a b', '-', '~']
gen_paths = st.builds(lambda lead, comps, trail: lead + '/'.join(comps) + trail,
                      st.sampled_from(['', '/', '//', './', '../']),
                      st.lists(st.sampled_from(COMPONENTS), max_size=6), st.sampled_from(['', '/', '/.', '//']))


@pytest.fixture(scope='module')
def engine():
    d = tempfile.mkdtemp(prefix='vapor-prop-engine-')
    eng = cc_engine.Engine(d, '64MB', 1)
    yield eng
    eng.close()
    shutil.rmtree(d, ignore_errors=True)


@settings(max_examples=60, **SETTINGS)
@given(paths=st.lists(st.one_of(gen_paths, names), min_size=1, max_size=30))
def test_sql_normalisation_equals_python(engine, paths):
    paths = [p.replace('\x00', '') for p in paths]
    rows = engine.con.execute("SELECT p, %s FROM (SELECT unnest(?::VARCHAR[]) AS p)" % cc_engine._NORM_SQL,
                              [paths]).fetchall()
    assert len(rows) == len(paths)
    for p, n in rows:
        if has_dotdot(p):
            assert n is None, p             # refused, as every reader refuses it
        else:
            assert n == normalise_path(p), p
            assert cc_engine.map_rel(p, '') == n
