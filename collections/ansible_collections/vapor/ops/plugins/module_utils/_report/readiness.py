# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The middleware-readiness matrix (WLCG MW Readiness): for each product under verification (the baseline: its
# service_type and expected version) and each volunteer site, what the site's hosts run, from the sites' `versions`
# reports (JSON arrays of {hostname, service_type, version}), and a status:
#   as-expected  every host of the site that has the product runs the expected version,
#   older/newer  they all run one version, older or newer than expected (rpm's or dpkg's rules, _pakiti/vercmp.py),
#   several      the site's hosts run different versions (each listed with its own status),
#   missing      the site reported, and no host of it has the product,
#   no-report    nothing was received from the site.
# Written as CSV, JSON and a self-contained HTML page (inline CSS, no script, no external resource), each through
# a temporary file and a rename. run() is the core of the module vapor.ops.mw_readiness.
#
# Pure Python (no Ansible import); PyYAML is used for a YAML baseline file when it can be imported.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import functools
import html
import io
import json
import os
import stat

try:
    import yaml
    HAS_YAML = True
except ImportError:
    yaml = None
    HAS_YAML = False

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import write_private
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.vercmp import SCHEMES, compare, version_problem
from ansible_collections.vapor.ops.plugins.module_utils._report.options import FORMATS, READINESS

MATRIX_VERSION = 1
STATUSES = ('as-expected', 'older', 'newer', 'missing', 'several', 'no-report')
STATUS_TEXT = {
    'as-expected': 'the site runs the expected version',
    'older': 'the site runs one version, older than expected',
    'newer': 'the site runs one version, newer than expected',
    'missing': 'the site reported, and none of its hosts has the product',
    'several': "the site's hosts run different versions (each listed with its own status)",
    'no-report': 'nothing was received from the site',
}
ENTRY_KEYS = ('hostname', 'service_type', 'version')
CSV_COLUMNS = ('product', 'service_type', 'site', 'scheme', 'expected', 'status', 'installed', 'hosts', 'detail')
FILE_MODE = 0o644
DIR_MODE = 0o755
DEFAULT_TITLE = 'Middleware readiness'
_SIGN_STATUS = {-1: 'older', 0: 'as-expected', 1: 'newer'}


# -- input -----------------------------------------------------------------------------------------------------------

def _kind(value):
    """What a JSON/YAML value is, in words, for an error sentence."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'the boolean %s' % ('true' if value else 'false')
    if isinstance(value, (int, float)):
        return 'the number %r' % (value,)
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, (list, tuple)):
        return 'an array'
    if isinstance(value, dict):
        return 'an object'
    return 'a %s' % type(value).__name__


def check_entries(entries, where):
    """The entries of a versions report as a list of {hostname, service_type, version} dicts, checked.

    ``where`` names the report at the start of the error sentence ("The report file '/x'"). Anything but a list of
    objects with exactly those three keys, each a non-empty string, raises VaporError naming the entry (from 1).
    """
    if not isinstance(entries, list):
        raise VaporError("%s does not hold an array of {hostname, service_type, version} entries but %s."
                         % (where, _kind(entries)))
    out = []
    for n, item in enumerate(entries, 1):
        if not isinstance(item, dict):
            raise VaporError("%s has an entry %d that is %s, not an object with hostname, service_type and version."
                             % (where, n, _kind(item)))
        if set(item) != set(ENTRY_KEYS):
            keys = ', '.join(sorted(str(k) for k in item)) or 'no key'
            raise VaporError("%s has an entry %d with the keys %s instead of hostname, service_type and version."
                             % (where, n, keys))
        for key in ENTRY_KEYS:
            value = item[key]
            if not isinstance(value, str):
                raise VaporError("%s has an entry %d whose %s is %s, not a string." % (where, n, key, _kind(value)))
            if not value.strip():
                raise VaporError("%s has an entry %d whose %s is empty." % (where, n, key))
        out.append(dict((k, item[k]) for k in ENTRY_KEYS))
    return out


def _read_text(path, label):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        raise VaporError("%s '%s' cannot be read: %s." % (label, path, exc.strerror or exc))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise VaporError("%s '%s' is not UTF-8 text (byte %d)." % (label, path, exc.start))


def read_versions_file(path):
    """The entries of a `versions` report file (a JSON array of {hostname, service_type, version}), checked.

    A file that cannot be read, is not UTF-8, is not JSON, or is not such an array raises one VaporError naming the
    file and the cause.
    """
    text = _read_text(path, 'The report file')
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise VaporError("The report file '%s' is not JSON: %s." % (path, exc))
    return check_entries(data, "The report file '%s'" % path)


def load_baseline_file(path):
    """The baseline in a JSON file, or a YAML file when PyYAML can be imported (JSON is tried first)."""
    text = _read_text(path, 'The baseline file')
    try:
        return json.loads(text)
    except ValueError as exc:
        json_error = exc
    if not HAS_YAML:
        raise VaporError("The baseline file '%s' is not JSON (YAML needs PyYAML, which cannot be imported): %s."
                         % (path, json_error))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VaporError("The baseline file '%s' is neither JSON nor YAML: %s." % (path, ' '.join(str(exc).split())))


def _name(value, what):
    if not isinstance(value, str) or not value.strip():
        raise VaporError("%s has no name (a non-empty string)." % what)
    return value


def _scheme(value, what):
    if value is None or value == '':
        return None
    if value not in SCHEMES:
        raise VaporError("%s has the version scheme %r; use rpm or dpkg." % (what, value))
    return value


def check_baseline(baseline):
    """The baseline, checked and completed: {'title', 'products': [{name, service_type, version, scheme}],
    'sites': [{name, scheme}]} (a product's service_type defaults to its name, its scheme to rpm; a site's scheme,
    when set, overrides the products' for that site; a site may be given as its name alone)."""
    if not isinstance(baseline, dict):
        raise VaporError("The baseline is %s, not a mapping with products and sites." % _kind(baseline))
    products = baseline.get('products')
    if not isinstance(products, list) or not products:
        raise VaporError("The baseline has no products: give a list of products with a name and a version.")
    out_products, names, types = [], {}, {}
    for n, product in enumerate(products, 1):
        if not isinstance(product, dict):
            raise VaporError("The baseline's product %d is %s, not a mapping with a name and a version."
                             % (n, _kind(product)))
        name = _name(product.get('name'), "The baseline's product %d" % n)
        what = "The baseline's product '%s'" % name
        version = product.get('version')
        if not isinstance(version, str) or not version:
            raise VaporError("%s has the version %s, not a string (in YAML, quote versions such as '2.10')."
                             % (what, _kind(version) if not isinstance(version, str) else 'an empty string'))
        service_type = product.get('service_type')
        if service_type is None:
            service_type = name
        _name(service_type, "%s's service_type" % what)
        scheme = _scheme(product.get('scheme'), what) or 'rpm'
        problem = version_problem(scheme, version)
        if problem:
            raise VaporError("%s has the version '%s', which is not a valid %s version: %s."
                             % (what, version, scheme, problem))
        if name in names:
            raise VaporError("The baseline names the product '%s' twice." % name)
        if service_type in types:
            raise VaporError("The baseline's products '%s' and '%s' have the same service_type '%s'."
                             % (types[service_type], name, service_type))
        names[name] = True
        types[service_type] = name
        out_products.append(dict(name=name, service_type=service_type, version=version, scheme=scheme))
    sites = baseline.get('sites')
    if not isinstance(sites, list) or not sites:
        raise VaporError("The baseline has no sites: give a list of the volunteer sites.")
    out_sites, seen = [], set()
    for n, site in enumerate(sites, 1):
        if isinstance(site, str):
            site = dict(name=site)
        if not isinstance(site, dict):
            raise VaporError("The baseline's site %d is %s, not a name or a mapping with a name." % (n, _kind(site)))
        name = _name(site.get('name'), "The baseline's site %d" % n)
        if name in seen:
            raise VaporError("The baseline names the site '%s' twice." % name)
        seen.add(name)
        out_sites.append(dict(name=name, scheme=_scheme(site.get('scheme'), "The baseline's site '%s'" % name)))
    title = baseline.get('title')
    if title is not None and not isinstance(title, str):
        raise VaporError("The baseline's title is %s, not a string." % _kind(title))
    return dict(title=title or DEFAULT_TITLE, products=out_products, sites=out_sites)


def check_reports(reports):
    """The reports, checked: [{site, hostname, scheme, source, entries, where}] where ``where`` names the report in
    error sentences (its file, or its place in the list) and ``source`` is the file it was read from, if any."""
    if reports is None:
        return []
    if not isinstance(reports, list):
        raise VaporError("The reports are %s, not a list of reports (site and entries)." % _kind(reports))
    out = []
    for n, report in enumerate(reports, 1):
        if not isinstance(report, dict):
            raise VaporError("The report %d is %s, not a mapping with a site and entries." % (n, _kind(report)))
        site = report.get('site')
        if not isinstance(site, str) or not site.strip():
            raise VaporError("The report %d names no site (a non-empty string)." % n)
        source = report.get('source')
        where = "The report file '%s'" % source if source else "The report %d (site '%s')" % (n, site)
        hostname = report.get('hostname')
        if hostname is not None and not isinstance(hostname, str):
            raise VaporError("%s has the hostname %s, not a string." % (where, _kind(hostname)))
        scheme = _scheme(report.get('scheme'), where)
        entries = check_entries(report.get('entries'), where)
        out.append(dict(site=site, hostname=hostname or None, scheme=scheme, source=source or None,
                        entries=entries, where=where))
    return out


# -- the matrix ------------------------------------------------------------------------------------------------------

def _sorted_versions(items):
    """Version items ({version, scheme, ...}) oldest first, by their scheme's rules (then as text)."""
    def cmp(a, b):
        if a['scheme'] != b['scheme']:
            return -1 if a['scheme'] < b['scheme'] else 1
        rc = compare(a['scheme'], a['version'], b['version'])
        if rc == 0 and a['version'] != b['version']:
            rc = -1 if a['version'] < b['version'] else 1
        return rc
    return sorted(items, key=functools.cmp_to_key(cmp))


def _cell(product, site, site_reports, found):
    """The row of one product at one site. ``found``: [(hostname, version, scheme, where)] of the product."""
    row = dict(product=product['name'], service_type=product['service_type'], site=site['name'],
               expected=product['version'], installed=[], versions=[], hosts=[])
    if not site_reports:
        row.update(status='no-report', scheme=site['scheme'] or product['scheme'])
        return row
    if not found:
        row.update(status='missing', scheme=site['scheme'] or product['scheme'])
        return row
    groups = {}
    for hostname, version, scheme, where in found:
        problem = version_problem(scheme, version)
        if problem:
            raise VaporError("%s gives the host '%s' the version '%s' of %s, which is not a valid %s version: %s."
                             % (where, hostname, version, product['service_type'], scheme, problem))
        groups.setdefault((version, scheme), set()).add(hostname)
    items = []
    for (version, scheme), hosts in groups.items():
        problem = version_problem(scheme, product['version'])
        if problem:
            raise VaporError("The baseline's product '%s' has the version '%s', which is not a valid %s version "
                             "(the scheme the site '%s' reports in): %s."
                             % (product['name'], product['version'], scheme, site['name'], problem))
        items.append(dict(version=version, scheme=scheme, hosts=sorted(hosts),
                          status=_SIGN_STATUS[compare(scheme, version, product['version'])]))
    items = _sorted_versions(items)
    installed = []
    for item in items:
        if item['version'] not in installed:
            installed.append(item['version'])
    schemes = sorted(set(item['scheme'] for item in items))
    row.update(installed=installed, versions=items, scheme=', '.join(schemes),
               hosts=sorted(set(h for item in items for h in item['hosts'])),
               status='several' if len(installed) > 1 else items[0]['status'])
    return row


def _counts():
    return dict((status, 0) for status in STATUSES)


def build_matrix(baseline, reports):
    """The readiness matrix of ``baseline`` (see check_baseline) against ``reports`` (a list of {site, entries,
    hostname?, scheme?, source?}; entries as in a `versions` report).

    Returns {'version', 'title', 'statuses', 'products', 'sites' (each with reported, hosts, sources), 'rows' (one
    per product and site, sorted by product then site name, case-insensitively: product, service_type, site, scheme, expected, status,
    installed, versions [{version, scheme, status, hosts}], hosts), 'summary' {rows, by_status, by_site,
    by_product}, 'unexpected_sites' [{site, hosts, entries, sources}], 'unexpected_products' [{site,
    service_type, versions, hosts}]}. A version's scheme is its report's, else its site's, else its product's.
    Invalid input raises one VaporError.
    """
    base = check_baseline(baseline)
    checked = check_reports(reports)
    site_names = set(s['name'] for s in base['sites'])
    by_type = dict((p['service_type'], p) for p in base['products'])
    by_site, unexpected = {}, {}
    for report in checked:
        if report['site'] in site_names:
            by_site.setdefault(report['site'], []).append(report)
        else:
            unexpected.setdefault(report['site'], []).append(report)
    rows, sites, odd_products = [], [], {}
    for site in base['sites']:
        site_reports = by_site.get(site['name'], [])
        found, hosts, sources = {}, set(), set()
        for report in site_reports:
            if report['hostname']:
                hosts.add(report['hostname'])
            if report['source']:
                sources.add(report['source'])
            for entry in report['entries']:
                hosts.add(entry['hostname'])
                product = by_type.get(entry['service_type'])
                if product is None:
                    odd = odd_products.setdefault((site['name'], entry['service_type']), (set(), set()))
                    odd[0].add(entry['version'])
                    odd[1].add(entry['hostname'])
                    continue
                scheme = report['scheme'] or site['scheme'] or product['scheme']
                found.setdefault(entry['service_type'], []).append(
                    (entry['hostname'], entry['version'], scheme, report['where']))
        sites.append(dict(name=site['name'], scheme=site['scheme'], reported=bool(site_reports),
                          hosts=sorted(hosts), sources=sorted(sources)))
        for product in base['products']:
            rows.append(_cell(product, site, site_reports, found.get(product['service_type'], [])))
    rows.sort(key=lambda r: (r['product'].casefold(), r['product'], r['site'].casefold(), r['site']))
    summary = dict(rows=len(rows), by_status=_counts(),
                   by_site=dict((s['name'], _counts()) for s in base['sites']),
                   by_product=dict((p['name'], _counts()) for p in base['products']))
    for row in rows:
        summary['by_status'][row['status']] += 1
        summary['by_site'][row['site']][row['status']] += 1
        summary['by_product'][row['product']][row['status']] += 1
    unexpected_sites = []
    for name in sorted(unexpected):
        reps = unexpected[name]
        hosts = set(r['hostname'] for r in reps if r['hostname']) | set(e['hostname'] for r in reps for e in r['entries'])
        unexpected_sites.append(dict(site=name, hosts=sorted(hosts), entries=sum(len(r['entries']) for r in reps),
                                     sources=sorted(set(r['source'] for r in reps if r['source']))))
    unexpected_products = [dict(site=site, service_type=st, versions=sorted(v), hosts=sorted(h))
                           for (site, st), (v, h) in sorted(odd_products.items())]
    return dict(version=MATRIX_VERSION, title=base['title'], statuses=list(STATUSES), products=base['products'],
                sites=sites, rows=rows, summary=summary, unexpected_sites=unexpected_sites,
                unexpected_products=unexpected_products)


# -- output ----------------------------------------------------------------------------------------------------------

def _detail(row):
    if row['status'] != 'several':
        return ''
    return '; '.join('%s: %s (%s)' % (v['version'], v['status'], ', '.join(v['hosts'])) for v in row['versions'])


# A spreadsheet takes a cell that starts with one of these for a formula; the versions and host names come from the
# sites' reports, so a cell of the CSV never starts with one (an apostrophe goes first, which spreadsheets hide).
_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def _csv_text(value):
    text = '' if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(matrix):
    """The rows as CSV text: a header, then one line per product and site (installed versions and hosts joined by
    '; '; for 'several', the detail column gives each version's status and hosts). A value that a spreadsheet would
    run as a formula (it starts with =, +, -, @, TAB or CR) gets an apostrophe in front, and every value is in double
    quotes: a spreadsheet that splits at ';' or TAB (a host name may hold one; the joined cells do) starts no new
    cell inside a value, as OWASP's CSV Injection advice has it."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n', quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for row in matrix['rows']:
        writer.writerow([_csv_text(value) for value in (
            row['product'], row['service_type'], row['site'], row['scheme'], row['expected'], row['status'],
            '; '.join(row['installed']), '; '.join(row['hosts']), _detail(row))])
    return buf.getvalue()


def render_json(matrix):
    """The whole matrix as JSON text (sorted keys, so the same matrix always gives the same text)."""
    return json.dumps(matrix, indent=2, sort_keys=True, ensure_ascii=False) + '\n'


def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #b8b8b8; padding: .3em .6em; text-align: left; vertical-align: top; }
thead th { background: #e8e8e8; }
tbody th { background: #f4f4f4; font-weight: normal; }
.num { text-align: right; }
.v { font-family: monospace; }
.small { font-size: .85em; color: #444; }
.status { font-weight: bold; }
.st-as-expected { background: #cdebd3; }
.st-older { background: #f8d7a8; }
.st-newer { background: #cfe0f7; }
.st-missing { background: #f5c6c6; }
.st-several { background: #e3d3f3; }
.st-no-report { background: #e6e6e6; color: #555; }
"""


def _status_cell(tag, row_or_status, content):
    status = row_or_status if isinstance(row_or_status, str) else row_or_status['status']
    return '<%s class="st-%s" data-status="%s">%s</%s>' % (tag, status, status, content, tag)


def render_html(matrix):
    """A self-contained HTML page of the matrix: inline CSS, no script, no external resource, every value
    escaped; products by sites, statuses coloured, then the summary, the detail, and what was not expected."""
    out = []
    add = out.append
    add('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    add('<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n' % (_e(matrix['title']), _CSS))
    add('<h1>%s</h1>\n' % _e(matrix['title']))
    add('<p>%d products under verification at %d sites; %d sites reported.</p>\n'
        % (len(matrix['products']), len(matrix['sites']), sum(1 for s in matrix['sites'] if s['reported'])))

    cells = dict(((r['product'], r['site']), r) for r in matrix['rows'])
    add('<h2>Matrix</h2>\n<table class="matrix">\n<thead><tr><th>Product</th><th>Expected</th>')
    for site in matrix['sites']:
        add('<th>%s</th>' % _e(site['name']))
    add('</tr></thead>\n<tbody>\n')
    for product in matrix['products']:
        add('<tr><th>%s<br><span class="small">%s, %s</span></th><td class="v">%s</td>'
            % (_e(product['name']), _e(product['service_type']), _e(product['scheme']), _e(product['version'])))
        for site in matrix['sites']:
            row = cells[(product['name'], site['name'])]
            parts = ['<span class="status">%s</span>' % _e(row['status'])]
            for item in row['versions']:
                parts.append('<span class="v">%s</span>%s<br><span class="small">%s</span>'
                             % (_e(item['version']),
                                ' <span class="small">(%s)</span>' % _e(item['status']) if row['status'] == 'several' else '',
                                _e(', '.join(item['hosts']))))
            add(_status_cell('td', row, '<br>'.join(parts)))
        add('</tr>\n')
    add('</tbody>\n</table>\n')

    add('<h2>Summary</h2>\n<table class="summary">\n<thead><tr><th>Site</th>')
    for status in matrix['statuses']:
        add(_status_cell('th', status, _e(status)))
    add('<th>Hosts</th></tr></thead>\n<tbody>\n')
    for site in matrix['sites']:
        counts = matrix['summary']['by_site'][site['name']]
        add('<tr><th>%s</th>' % _e(site['name']))
        for status in matrix['statuses']:
            add('<td class="num">%d</td>' % counts[status])
        add('<td class="small">%s</td></tr>\n' % _e(', '.join(site['hosts'])))
    add('<tr><th>All sites</th>')
    for status in matrix['statuses']:
        add('<td class="num">%d</td>' % matrix['summary']['by_status'][status])
    add('<td></td></tr>\n</tbody>\n</table>\n')

    add('<h2>Detail</h2>\n<table class="detail">\n<thead><tr>')
    for column in CSV_COLUMNS:
        add('<th>%s</th>' % _e(column))
    add('</tr></thead>\n<tbody>\n')
    for row in matrix['rows']:
        add('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="v">%s</td>'
            % (_e(row['product']), _e(row['service_type']), _e(row['site']), _e(row['scheme']), _e(row['expected'])))
        add(_status_cell('td', row, _e(row['status'])))
        add('<td class="v">%s</td><td>%s</td><td>%s</td></tr>\n'
            % (_e('; '.join(row['installed'])), _e('; '.join(row['hosts'])), _e(_detail(row))))
    add('</tbody>\n</table>\n')

    if matrix['unexpected_sites']:
        add('<h2>Reports from sites not in the baseline</h2>\n<table class="unexpected-sites">\n'
            '<thead><tr><th>Site</th><th>Entries</th><th>Hosts</th><th>Files</th></tr></thead>\n<tbody>\n')
        for item in matrix['unexpected_sites']:
            add('<tr><td>%s</td><td class="num">%d</td><td>%s</td><td>%s</td></tr>\n'
                % (_e(item['site']), item['entries'], _e(', '.join(item['hosts'])), _e(', '.join(item['sources']))))
        add('</tbody>\n</table>\n')
    if matrix['unexpected_products']:
        add('<h2>Service types not in the baseline</h2>\n<table class="unexpected-products">\n'
            '<thead><tr><th>Site</th><th>Service type</th><th>Versions</th><th>Hosts</th></tr></thead>\n<tbody>\n')
        for item in matrix['unexpected_products']:
            add('<tr><td>%s</td><td>%s</td><td class="v">%s</td><td>%s</td></tr>\n'
                % (_e(item['site']), _e(item['service_type']), _e('; '.join(item['versions'])),
                   _e(', '.join(item['hosts']))))
        add('</tbody>\n</table>\n')

    add('<h2>Statuses</h2>\n<table class="legend">\n<tbody>\n')
    for status in matrix['statuses']:
        add('<tr>%s<td>%s</td></tr>\n' % (_status_cell('th', status, _e(status)), _e(STATUS_TEXT[status])))
    add('</tbody>\n</table>\n</body>\n</html>\n')
    return ''.join(out)


RENDERERS = dict(csv=render_csv, json=render_json, html=render_html)


def write_text_atomic(path, text, mode=FILE_MODE):
    """Write ``text`` (UTF-8) to ``path`` with ``mode`` through _common/files.write_private: a temporary file in the
    same directory and a rename, so the file is either the old one or the whole new one, never half-written; a
    FIFO, socket or device at the path is refused."""
    write_private(path, text.encode('utf-8'), 'The file', mode=mode)


def write_csv(matrix, path):
    """Write render_csv(matrix) to ``path`` (atomically, mode 0644)."""
    write_text_atomic(path, render_csv(matrix))


def write_json(matrix, path):
    """Write render_json(matrix) to ``path`` (atomically, mode 0644)."""
    write_text_atomic(path, render_json(matrix))


def write_html(matrix, path):
    """Write render_html(matrix) to ``path`` (atomically, mode 0644)."""
    write_text_atomic(path, render_html(matrix))


# -- the module's core -----------------------------------------------------------------------------------------------

def _existing(path):
    """{text, mode} of the file at ``path`` now (text None when it is not UTF-8 or is a link, which a run replaces
    by a file); None when nothing is there. Anything else than a file or a link there raises VaporError."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return dict(text=None, mode=None)         # a link is replaced by a file
    if not stat.S_ISREG(st.st_mode):
        raise VaporError("The path '%s' exists and is not a regular file." % path)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except (IOError, OSError) as exc:
        raise VaporError("The file '%s' cannot be read: %s." % (path, exc.strerror or exc))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        text = None
    return dict(text=text, mode=stat.S_IMODE(st.st_mode))


def _formats(value):
    formats = []
    for fmt in value or []:
        if fmt not in FORMATS:
            raise VaporError("The format %r is not one of %s." % (fmt, ', '.join(FORMATS)))
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise VaporError("The formats option is empty: give one or more of %s." % ', '.join(FORMATS))
    return formats


def _basename(value):
    if not isinstance(value, str) or value in ('', '.', '..') or '/' in value or '\0' in value:
        raise VaporError("The basename %r is not a plain file name." % (value,))
    return value


def run(params, check_mode=False):
    """The core of vapor.ops.mw_readiness: build the matrix and write the files whose content changed.

    ``params``: the options of READINESS. Returns {changed, dest, files {format: path}, changed_files [paths
    written, or that a real run would write in check mode], summary, unexpected_sites [names], matrix, diff}.
    """
    p = READINESS.merge(params)
    if p.get('baseline') is not None and p.get('baseline_file'):
        raise VaporError("The options baseline and baseline_file are both set: give one.")
    if p.get('baseline') is None and not p.get('baseline_file'):
        raise VaporError("Neither baseline nor baseline_file is set: give the products and sites to verify.")
    baseline = p['baseline'] if p.get('baseline') is not None else load_baseline_file(p['baseline_file'])
    formats = _formats(p.get('formats'))
    basename = _basename(p.get('basename'))
    dest = p.get('dest')
    if not dest:
        raise VaporError("The option dest is required: give the directory the matrix is written to.")
    reports = [dict(r) for r in (p.get('reports') or [])]
    for n, item in enumerate(p.get('report_files') or [], 1):
        if not isinstance(item, dict) or not item.get('site') or not item.get('path'):
            raise VaporError("The report file %d of report_files needs a site and a path." % n)
        reports.append(dict(site=item['site'], scheme=item.get('scheme'), source=item['path'],
                            entries=read_versions_file(item['path'])))
    matrix = build_matrix(baseline, reports)

    changed = False
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise VaporError("The dest '%s' exists and is not a directory." % dest)
    if not os.path.isdir(dest):
        changed = True
        if not check_mode:
            try:
                os.makedirs(dest, DIR_MODE)
            except OSError as exc:
                raise VaporError("The dest directory '%s' cannot be created: %s." % (dest, exc.strerror or exc))
    files, changed_files, diff = {}, [], []
    for fmt in formats:
        path = os.path.join(dest, '%s.%s' % (basename, fmt))
        files[fmt] = path
        text = RENDERERS[fmt](matrix)
        old = _existing(path) if os.path.isdir(dest) else None
        if old is not None and old['text'] == text:
            if old['mode'] != FILE_MODE:
                changed = True
                changed_files.append(path)
                if not check_mode:
                    try:
                        os.chmod(path, FILE_MODE)
                    except OSError as exc:
                        raise VaporError("The mode of the file '%s' cannot be set: %s." % (path, exc.strerror or exc))
            continue
        changed = True
        changed_files.append(path)
        diff.append(dict(before_header=path, after_header=path,
                         before=(old or {}).get('text') or '', after=text))
        if not check_mode:
            write_text_atomic(path, text)
    return dict(changed=changed, dest=dest, files=files, changed_files=changed_files, summary=matrix['summary'],
                unexpected_sites=[s['site'] for s in matrix['unexpected_sites']], matrix=matrix, diff=diff)
