# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dump format registry: one object per format, and the pieces other parts take from it (the option choices,
the error sentences, format detection, the consistency engine's SQL, the DPM scanner's SQL)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump import registry
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_cms import CMS
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_syncat import SYNCAT
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_text import TEXT
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import MAX_LINE, Unrepresentable
from ansible_collections.vapor.ops.plugins.module_utils._dump.options import output_options
from ansible_collections.vapor.ops.plugins.module_utils._dump.publish import check_output_options
from ansible_collections.vapor.ops.plugins.module_utils._storage.dpm import _DpmLines
from ansible_collections.vapor.ops.plugins.module_utils._storage.sink import EntrySink
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import EntryFilter, PathMapper


def test_the_registry_lists_every_format_once_in_option_order():
    assert registry.FORMATS == ('text', 'cms', 'syncat')
    assert [registry.get_format(n) for n in registry.FORMATS] == [TEXT, CMS, SYNCAT]
    assert output_options('x', '0644', None).options['format']['choices'] == list(registry.FORMATS)


@pytest.mark.parametrize('bad', ['xml', None, ''])
def test_unknown_format_is_one_sentence_naming_the_choices(bad):
    with pytest.raises(VaporError, match=r"^The dump format '%s' is not supported; use text, cms or syncat\.$" % bad):
        registry.get_format(bad)
    p = {'format': bad, 'compression': 'none', 'dest': '/d', 'name': 'd', 'mode': '0644'}
    with pytest.raises(VaporError, match="use text, cms or syncat"):
        check_output_options(p, registry.FORMATS, ('none',))


@pytest.mark.parametrize('head,fmt', [
    (b'/a/b\n', 'text'),
    (b'\xef\xbb\xbf/a|1|2|N/A\n', 'cms'),
    (b'BEGIN TIME 1\n/a|1|2|N/A\n', 'cms'),
    (b'  \n<?xml version="1.0"?><cat/>', 'syncat'),
    (u'<cat/>'.encode('utf-16'), 'syncat'),
    (b'', 'text'),
])
def test_detect_format_asks_each_format(head, fmt):
    assert registry.detect_format(io.BufferedReader(io.BytesIO(head)), 'd') == fmt


def test_utf16_line_dump_is_refused_naming_the_line_formats():
    with pytest.raises(VaporError, match="a text or cms dump must be UTF-8"):
        registry.detect_format(io.BufferedReader(io.BytesIO(u'/a\n'.encode('utf-16'))), 'd')


@pytest.mark.parametrize('fmt', [TEXT, CMS, SYNCAT])
def test_write_many_equals_write_one(fmt):
    entries = [(u'/a', 1, 2, 'deadbeef'), (u'/b|c', 3, None, None), (u'/d\ne', 4, 5, None), (u'', 0, 0, None),
               (u'/x/../y', 1, 1, None), (u'BEGIN TIME', 1, 1, None), (u'/\udcff', 1, 1, None), (u'/ok', 7, 8, None)]
    rejected = []
    data, n, nbytes = fmt.records(entries, rejected)
    one = []
    why = []
    for e in entries:
        try:
            one.append(fmt.record(*e))
        except Unrepresentable as exc:
            why.append((str(exc), e[0]))
    assert data == b''.join(one)
    assert n == len(one)
    assert rejected == why


def test_syncat_has_header_and_footer_line_formats_none():
    assert SYNCAT.header('2026-01-01T00:00:00Z', 'dteam').startswith(b'<?xml')
    assert b'<for>vo:dteam</for>' in SYNCAT.header('t', 'dteam')
    assert SYNCAT.footer().endswith(b'</cat>\n')
    assert TEXT.header('t', 'vo') == CMS.header('t', 'vo') == b''
    assert TEXT.footer() == CMS.footer() == b''


class _Inp:
    def __init__(self, path, kind, newline='\\n'):
        self.source = (path, kind)
        self.newline = newline


# The SQL the consistency engine used for each format before the registry (frozen from _consistency.py at
# bcb0f77): the engine now takes it from the format objects, and it must not change by accident.
_CMS_SQL = "'^(.*)\\|([0-9]+)\\|([0-9]+(?:\\.[0-9]*)?)\\|([^|]*)$'"
FROZEN_ROWS = {
    ('text', True): "SELECT line AS p, NULL::BIGINT AS m FROM {raw} WHERE line IS NOT NULL",
    ('text', False): "SELECT line AS p, NULL::BIGINT AS m FROM {raw} WHERE line IS NOT NULL",
    ('cms', True): ("SELECT regexp_extract(line, %s, 1) AS p, CAST(floor(TRY_CAST(regexp_extract(line, %s, 3) AS DOUBLE)) "
                    "AS BIGINT) AS m FROM {raw} WHERE line IS NOT NULL AND NOT starts_with(line, 'BEGIN TIME') "
                    "AND NOT starts_with(line, 'END TIME')" % (_CMS_SQL, _CMS_SQL)),
    ('cms', False): ("SELECT regexp_extract(line, %s, 1) AS p, NULL::BIGINT AS m FROM {raw} WHERE line IS NOT NULL "
                     "AND NOT starts_with(line, 'BEGIN TIME') AND NOT starts_with(line, 'END TIME')" % _CMS_SQL),
}


@pytest.mark.parametrize('with_mtime', [True, False])
@pytest.mark.parametrize('fmt', [TEXT, CMS])
@pytest.mark.parametrize('newline', ['\\n', '\\r\\n'])
def test_the_engine_reads_each_format_with_the_frozen_sql(tmp_path, fmt, with_mtime, newline):
    """The consistency engine's source SQL for a format DuckDB reads itself: the format object's duckdb_rows()
    over the engine's raw relation of lines, equal to the SQL the engine built before the registry."""
    pytest.importorskip('duckdb')
    from ansible_collections.vapor.ops.plugins.module_utils._consistency.engine import Engine
    eng = Engine(str(tmp_path), '64MB', 1)
    try:
        path = str(tmp_path / 'in0')
        raw = ("read_csv(%s, columns={'line': 'VARCHAR'}, delim='%s', quote='', escape='', header=false, "
               "auto_detect=false, new_line='%s', max_line_size=%d, buffer_size=%d)"
               % ("'" + path + "'", eng.delim, newline, MAX_LINE + 64, 1 << 22))
        assert eng.source_sql(_Inp(path, fmt.name, newline), with_mtime) == \
            FROZEN_ROWS[(fmt.name, with_mtime)].replace('{raw}', raw)
    finally:
        eng.close()


def test_the_recorded_time_comes_from_the_format():
    assert SYNCAT.recorded(b'<?xml version="1.0"?><dump recorded="2026-11-20T10:00:00Z"><for>') == \
        '2026-11-20T10:00:00Z'
    assert SYNCAT.recorded(b'<x:dump xmlns:x="u" recorded=\'2026-11-20\'>') == '2026-11-20'
    assert SYNCAT.recorded(b'<dump><entry name="/a"/>') is None
    assert TEXT.recorded(b'recorded="2026"') is None and CMS.recorded(b'') is None


def test_engine_facts_of_each_format():
    assert TEXT.duckdb_native and CMS.duckdb_native and not SYNCAT.duckdb_native
    assert SYNCAT.duckdb_rows('r', True) is None
    assert CMS.marks_malformed and not TEXT.marks_malformed and not SYNCAT.marks_malformed
    assert not TEXT.has_mtime and CMS.has_mtime and SYNCAT.has_mtime
    assert TEXT.line_format and CMS.line_format and not SYNCAT.line_format


@pytest.mark.parametrize('fmt,xattr,cols', [
    (CMS, True, "CONCAT(name, '|', filesize, '|', mtime, '|'), IF(csumtype = 'AD', IF(LENGTH(csumvalue) = 8, "
                "csumvalue, NULL), IF(xattr LIKE '%adler32%', NULL, 'N/A'))"),
    (CMS, False, "CONCAT(name, '|', filesize, '|', mtime, '|'), IF(csumtype = 'AD', IF(LENGTH(csumvalue) = 8, "
                 "csumvalue, NULL), 'N/A')"),
    (TEXT, True, "CONCAT(name, '\\n')"),
])
def test_the_dpm_scanner_asks_the_format_for_its_sql(fmt, xattr, cols):
    assert _DpmLines(None, fmt, 1, xattr).query() == ("SELECT parent_fileid, fileid, %s, filesize, filemode & 61440 "
                                                      "FROM Cns_file_metadata" % cols)


def test_the_sink_offers_the_database_fast_path_only_where_the_format_has_one():
    def sink(fmt, **kw):
        return EntrySink(fmt, PathMapper(None, None), EntryFilter(kw.get('ignore', []), 0, now=0), None, 1,
                         digest=False)
    assert sink('cms').preformat() is CMS
    assert sink('text').preformat() is TEXT
    assert sink('syncat').preformat() is None
    assert sink('cms', ignore=['x']).preformat() is None
