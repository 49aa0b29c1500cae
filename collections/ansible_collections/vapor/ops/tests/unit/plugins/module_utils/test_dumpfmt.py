# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_cms import CMS
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_syncat import SYNCAT
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_text import TEXT
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    Digest, Unrepresentable, normalise_adler32, open_compressed_writer)
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import DumpReader, dump_digest, read_dump
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

ENTRIES = [
    (u'/store/a.root', 10, 1700000000, '0000abcd'),
    (u'/store/with space/b.root', 0, 1700000001, None),
    (u'/store/ünïcödé/c.root', 123456789012, 1700000002, 'deadbeef'),
]


def write(tmp_path, fmt, compression='none', entries=None, name='dump'):
    entries = ENTRIES if entries is None else entries
    path = tmp_path / name
    with open(str(path), 'wb') as raw:
        stream = open_compressed_writer(raw, compression)
        w = DumpWriter(stream, fmt, recorded='2026-11-21T00:00:00Z', vo='dteam')
        rejected = [w.add(*e) for e in entries]
        w.close()
        if stream is not raw:
            stream.close()
    return str(path), w, rejected


@pytest.mark.parametrize('compression', ['none', 'gzip', 'bzip2'])
@pytest.mark.parametrize('fmt', ['text', 'cms', 'syncat'])
def test_round_trip_every_format_and_compression(tmp_path, fmt, compression):
    path, writer, rejected = write(tmp_path, fmt, compression)
    assert rejected == [None, None, None]
    with DumpReader(path) as reader:
        got = list(reader)
        assert reader.fmt == fmt            # detected from the content
        assert reader.compression == compression
    assert [e.path for e in got] == [e[0] for e in ENTRIES]
    if fmt != 'text':
        assert [e.size for e in got] == [e[1] for e in ENTRIES]
        assert [e.mtime for e in got] == [e[2] for e in ENTRIES]
        assert [e.checksum for e in got] == [e[3] for e in ENTRIES]
    # the digest of what is on disk equals the digest of what was written
    assert dump_digest(path, fmt).state() == writer.digest.state()


def test_text_format_is_one_path_per_line(tmp_path):
    path, _w, _r = write(tmp_path, 'text')
    with open(path, 'rb') as f:
        assert f.read().decode('utf-8').splitlines() == [e[0] for e in ENTRIES]


def test_cms_line_layout():
    assert CMS.record(u'/store/x', 5, 1700000000.9, '0000abcd') == b'/store/x|5|1700000000|0000abcd\n'
    assert CMS.record(u'/store/x', 5, 1700000000, None) == b'/store/x|5|1700000000|N/A\n'


@pytest.mark.parametrize('fmt,name,ok', [
    ('text', u'/a|b', True),
    ('text', u'/a\nb', False),
    ('text', u'/a\rb', False),
    ('cms', u'/a|b', False),
    ('cms', u'/a\nb', False),
    ('cms', u'/a b', True),
    ('syncat', u'/a\nb', True),
    ('syncat', u'/a|b', True),
    ('syncat', u'/a\x01b', False),
    ('text', u'/a\udcffb', False),   # not valid UTF-8 (surrogate-escaped byte)
    ('cms', u'/a\udcffb', False),
    ('syncat', u'/a\udcffb', False),
])
def test_representability_rules(fmt, name, ok):
    fn = {'text': TEXT.record, 'cms': CMS.record, 'syncat': SYNCAT.record}[fmt]
    if ok:
        assert fn(name, 1, 1, None)
    else:
        with pytest.raises(Unrepresentable):
            fn(name, 1, 1, None)


def test_syncat_keeps_newlines_and_markup_in_names(tmp_path):
    odd = [(u'/a\nb & <c> "d"\te', 1, 2, None)]
    path, _w, rejected = write(tmp_path, 'syncat', entries=odd)
    assert rejected == [None]
    assert [e.path for e in read_dump(path)] == [odd[0][0]]


def test_writer_counts_rejections(tmp_path):
    path, w, rejected = write(tmp_path, 'cms', entries=[(u'/ok', 1, 1, None), (u'/bad|name', 1, 1, None)])
    assert rejected[0] is None and 'cms' in rejected[1]
    assert w.rejected == 1 and w.digest.count == 1
    assert [e.path for e in read_dump(path)] == [u'/ok']


@pytest.mark.parametrize('compression, suffix', [('gzip', '.gz'), ('bzip2', '.bz2')])
def test_truncated_compressed_dump_is_an_error(tmp_path, compression, suffix):
    path, _w, _r = write(tmp_path, 'text', compression, entries=[(u'/f%06d' % i, 1, 1, None) for i in range(20000)])
    data = open(path, 'rb').read()
    cut = tmp_path / ('cut' + suffix)
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(VaporError, match='truncated'):
        list(read_dump(str(cut)))


def test_xml_without_closing_tags_is_an_error(tmp_path):
    path, _w, _r = write(tmp_path, 'syncat')
    data = open(path, 'rb').read()
    cut = tmp_path / 'cut.xml'
    cut.write_bytes(data[:data.index(b'</entry-set>')])
    with pytest.raises(VaporError, match='truncated or corrupt'):
        list(read_dump(str(cut)))


def test_text_without_final_newline_is_truncated(tmp_path):
    p = tmp_path / 'd'
    p.write_bytes(b'/a\n/b')
    with pytest.raises(VaporError, match='last line has no line end'):
        list(read_dump(str(p)))


def test_empty_dump_reads_as_no_entries(tmp_path):
    p = tmp_path / 'd'
    p.write_bytes(b'')
    assert list(read_dump(str(p))) == []


def test_missing_dump_is_one_sentence(tmp_path):
    with pytest.raises(VaporError, match=r"The dump '.*nope' cannot be read"):
        list(read_dump(str(tmp_path / 'nope')))


def test_reads_peer_formats(tmp_path):
    """Dumps as other tools write them: the DPM flavour, pnfs, hadoop begin/end lines, StoRM checksums."""
    dpm = tmp_path / 'dpm.xml'
    dpm.write_bytes(b'<?xml version="1.0" encoding="iso-8859-1"?><dump recorded="2012-02-27T12:33:23.902495">'
                    b'<for>vo:cms</for>\n<entry-set>\n<entry name="/dpm/x/f.root"><size>11</size><ctime>1296671817'
                    b'</ctime><checksum>AD:ca793d51</checksum></entry>\n</entry-set></dump>')
    got = list(read_dump(str(dpm)))
    assert got[0].path == '/dpm/x/f.root' and got[0].size == 11 and got[0].mtime == 1296671817
    assert got[0].checksum == 'ca793d51'
    alg = tmp_path / 'alg.xml'
    alg.write_bytes(b'<dump><entry-set><entry name="/f"><size>1</size><last-modified>5</last-modified>'
                    b'<checksum algorithm="AD">abc</checksum></entry></entry-set></dump>')
    assert list(read_dump(str(alg)))[0].checksum == '00000abc'
    hadoop = tmp_path / 'hadoop.txt'
    hadoop.write_bytes(b'BEGIN TIME 1329994112 Thu Feb 23 02:48:32 PST 2012\n/hadoop/f.root|550691237|1260815838|N/A\n'
                       b'/store/g.root|1|1329838298.5|2cdd87e8\nEND TIME 1329994113 x\n')
    got = list(read_dump(str(hadoop)))
    assert [(e.path, e.size, e.mtime, e.checksum) for e in got] == [
        ('/hadoop/f.root', 550691237, 1260815838, None), ('/store/g.root', 1, 1329838298, '2cdd87e8')]


def test_cms_reader_rejects_garbage_line(tmp_path):
    p = tmp_path / 'd'
    p.write_bytes(b'/a|1|2|N/A\n/b|x|2|N/A\n')
    with pytest.raises(VaporError, match='line 2'):
        list(read_dump(str(p), 'cms'))


@pytest.mark.parametrize('value,expected', [
    ('ABCD', '0000abcd'), ('AD:ca793d51', 'ca793d51'), ('adler32:1', '00000001'), ('N/A', None), ('', None),
    (None, None), ('MD:ffff', None), ('zz', None)])
def test_normalise_adler32(value, expected):
    assert normalise_adler32(value) == expected


def test_digest_is_order_independent():
    a, b = Digest(), Digest()
    recs = [b'x\n', b'y\n', b'z\n']
    for r in recs:
        a.add(r)
    for r in reversed(recs):
        b.add(r)
    assert a.state() == b.state()
    c = Digest()
    c.add(b'x\n')
    c.add(b'y\n')
    c.add(b'w\n')
    assert c.state() != a.state()


def test_gzip_output_is_deterministic(tmp_path):
    one, _w, _r = write(tmp_path, 'cms', 'gzip', name='one')
    two, _w, _r = write(tmp_path, 'cms', 'gzip', name='two')
    assert open(one, 'rb').read() == open(two, 'rb').read()


@pytest.mark.parametrize('crlf', [False, True])
@pytest.mark.parametrize('extra, ok', [(0, True), (1, False)])
def test_line_length_limit_is_the_same_in_every_check(tmp_path, extra, ok, crlf):
    """A line of MAX_LINE bytes (a '\r' before the '\n' counts) is read; one byte more is refused by name and line."""
    from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import MAX_LINE, check_line_lengths
    end = b'\r\n' if crlf else b'\n'
    body = b'/a' + end + b'/' + b'x' * (MAX_LINE - 1 + extra - (1 if crlf else 0)) + end + b'/b' + end
    p = tmp_path / 'd'
    p.write_bytes(body)
    if ok:
        check_line_lengths(str(p))
        assert len(list(read_dump(str(p), 'text'))) == 3
    else:
        for call in (lambda: check_line_lengths(str(p)), lambda: list(read_dump(str(p), 'text'))):
            with pytest.raises(VaporError, match=r"^The dump '.*' is corrupt: line 2 is longer than 65536 bytes"):
                call()
