# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# package_report's core, the same in the module and in the pakiti_client role's scheduled run:
#   1. check every setting first (patterns, certificates, URLs, products), so bad input sends nothing;
#   2. wait a random part of 'splay' seconds (scheduled runs of many hosts spread out);
#   3. collect the packages and headers (or read a prepared report: 'input');
#   4. apply the site-wide filters, then each destination's own, before anything leaves the host;
#   5. format (pakiti protocol 5, or the version-only report), encrypt where asked, send to each destination;
#      write 'output' (mode 0600).
# A destination that fails does not stop the others; the run fails afterwards unless allow_partial.
# The result counts packages (found, sent, filtered) and never names a filtered package.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._clients import http as vhttp
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import check_replaceable, write_private
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import collect as pcollect
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import filters as pfilters
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import report as preport
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import send as psend
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import versions as pversions
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.options import TABLE

MAX_INPUT = 64 << 20
MAX_STATE = 1 << 20
# HTTP options that may hold a secret: allowed for the module (no_log), not in a destination's plain dictionary
SECRET_HTTP_OPTIONS = ('token', 'proxy_url')
STATE_VERSION = 1


def _encryption():
    """The encryption code, imported only by a run that encrypts: loading cryptography costs a scheduled run more
    time than collecting the packages does (benchmarks/bench_package_report.py)."""
    from ansible_collections.vapor.ops.plugins.module_utils._pakiti import encrypt
    return encrypt


class Destination(object):
    """One collector with everything it needs resolved: filters, format, certificate, HTTP settings."""

    def __init__(self, spec, top, base_http):
        self.name = spec['name']
        self.what = "The destination '%s'" % self.name
        self.url = spec['url']
        if not (self.url or '').lower().startswith(('http://', 'https://')):
            raise VaporError("%s has the URL '%s', which is not an http:// or https:// URL."
                             % (self.what, vhttp.safe_url(self.url)))
        self.mode = spec.get('mode') or top['mode']
        self.format = spec.get('format') or top['format']
        self.products = spec.get('products') if spec.get('products') is not None else top['products']
        if self.format == 'versions':
            check_products(self.products, self.what)
        self.filters = pfilters.Filters(include=spec.get('include'), exclude=spec.get('exclude'),
                                        kernel=True if spec.get('kernel') is None else spec['kernel'],
                                        headers=spec.get('drop_headers'))
        self.filtering = filtering(spec.get('include'), spec.get('exclude'), spec.get('kernel'), spec.get('drop_headers'))
        encrypt = spec.get('encrypt') if spec.get('encrypt') is not None else top['encrypt']
        self.recipient = _encryption().load_recipient(encrypt) if encrypt else None
        expect = spec.get('expect') if spec.get('expect') is not None else top['expect']
        self.expect_re = psend.compile_expect(expect, self.what)
        self.protocol_version = top['protocol_version'] if spec.get('protocol_version') is None else spec['protocol_version']
        secret = sorted(set(spec.get('http') or {}) & set(SECRET_HTTP_OPTIONS))
        if secret:
            # a destination's http dictionary is not hidden from logs the way the module's own options are
            raise VaporError("%s sets %s in its http settings, which would show in logs; set it for the module, or use "
                             "token_file." % (self.what, ' and '.join(secret)))
        self.http = vhttp.override(base_http, spec.get('http'), self.what)


def filtering(include, exclude, kernel, drop_headers):
    """Whether these filter settings can leave anything out (a prepared report is then sent as it is)."""
    return bool(include or exclude or kernel is False or drop_headers)


def check_products(products, what):
    if not products:
        raise VaporError("%s asks for the versions format but gives no products (service type: package name or pattern)."
                         % what)
    for service_type, patterns in products.items():
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise VaporError("%s has no package name or pattern (or list of them) for the product '%s'."
                             % (what, service_type))
        pfilters.Filters(include=patterns)  # the patterns compile, or one sentence says why not


def destinations_of(p, base_http):
    specs = list(p.get('destinations') or [])
    if p.get('url'):
        specs.insert(0, {'name': 'url', 'url': p['url']})
    seen, dests = set(), []
    for spec in specs:
        if spec['name'] in seen:
            raise VaporError("The destination name '%s' is given twice." % spec['name'])
        seen.add(spec['name'])
        dests.append(Destination(spec, p, base_http))
    return dests


def read_input(path, site):
    """The prepared report of 'input': (headers, packages, the bytes as they will be sent when nothing is filtered)."""
    what = "The input report '%s'" % path
    data = preport.read_regular(path, what, MAX_INPUT)
    if len(data) > MAX_INPUT:
        raise VaporError("%s is larger than %d MiB, which no package report is." % (what, MAX_INPUT >> 20))
    preport.parse_report(data, path)
    if site:
        data = preport.set_site(data, site)
    headers, lines = preport.parse_report(data, path)
    packages = [tuple(line.decode('utf-8', 'surrogateescape').split('\t')) for line in lines]
    return headers, packages, data


def render(fmt, headers, packages, products):
    """(bytes, versions entries or None, missing products or None) of one report."""
    if fmt == 'versions':
        entries, missing = pversions.versions_report(headers.get('host'), products, packages)
        return pversions.format_versions(entries), entries, missing
    return preport.format_report(headers, packages), None, None


def _digest(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def load_state(path):
    """(per-destination digests of the last delivered reports, warning or None) from the state file.

    A state file that cannot be read or is not what this module writes only costs the 'changed' comparison: the run
    goes on as if it were the first, with a warning, and writes a good one.
    """
    if not path:
        return {}, None
    if not os.path.lexists(path):
        return {}, None
    import json
    try:
        state = json.loads(preport.read_regular(path, "The state file '%s'" % path, MAX_STATE).decode('utf-8'))
    except VaporError as exc:
        return {}, "%s; every delivery counts as a change this time." % exc.msg.rstrip('.')
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get('version') != STATE_VERSION or not isinstance(
            state.get('destinations'), dict):
        return {}, ("The state file '%s' is not the JSON package_report writes; it is replaced, and every delivery "
                    "counts as a change this time." % path)
    return state['destinations'], None


def run(params, check_mode=False, sleep=time.sleep, rand=None, environ=None, collect=None):
    """The whole job; returns the module's result. ``rand`` (default random.random) and ``sleep`` time the splay,
    ``collect`` replaces collect.collect (tests).

    Modules a run may not need (json, hashlib, random, requests, cryptography) are imported where they are used: a
    scheduled run that writes its report to a file costs little more than the package query itself
    (benchmarks/bench_package_report.py)."""
    environ = os.environ if environ is None else environ
    p = TABLE.merge(params, environ=environ)
    if p.get('destinations') is not None:
        p['destinations'] = [dict(d) for d in p['destinations']]
    if not (p.get('url') or p.get('destinations') or p.get('output')):
        raise VaporError("The package report has nowhere to go: give url, destinations or output.")
    if p['splay'] < 0:
        raise VaporError("The splay of %d seconds is negative." % p['splay'])
    if p['format'] == 'versions' and (p.get('output') or p.get('url')):
        check_products(p['products'], 'The package report')
    top_filters = pfilters.Filters(include=p['include'], exclude=p['exclude'], kernel=p['kernel'],
                                   headers=p['drop_headers'])
    top_recipient = _encryption().load_recipient(p['encrypt']) if p.get('encrypt') and p.get('output') else None
    base_http = vhttp.http_settings(p)
    dests = destinations_of(p, base_http)
    for path, label in ((p.get('output'), 'The report file'), (p.get('state_file'), 'The state file')):
        if path:
            check_replaceable(path, label)   # before anything is collected or sent
    state, state_warning = load_state(p.get('state_file'))

    result = {'changed': False, 'warnings': [state_warning] if state_warning else []}
    slept = 0.0
    if p['splay'] and not check_mode:
        if rand is None:
            import random
            rand = random.random
        slept = round(rand() * p['splay'], 3)
        sleep(slept)
    result['splay_seconds'] = slept

    raw = None
    if p.get('input'):
        headers, packages, raw = read_input(p['input'], p.get('site'))
        packager = headers.get('packager')
    else:
        inventory = (collect or pcollect.collect)(packager=p['packager'], host=p.get('host'), site=p.get('site'),
                                                  tag=p.get('tag'), rpm_dbpath=p.get('rpm_dbpath'),
                                                  dpkg_admindir=p.get('dpkg_admindir'))
        headers, packages, packager = inventory.headers, inventory.packages, inventory.packager
        result['warnings'].extend(inventory.warnings or [])
    found_names = set(pkg[0] for pkg in packages)
    headers, packages, counts = top_filters.apply(headers, packages)
    if raw is not None and not filtering(p['include'], p['exclude'], p['kernel'], p['drop_headers']):
        top_bytes = raw  # a prepared report is sent as it is when nothing is filtered out of it
    else:
        top_bytes = None
    result.update(host=headers.get('host'), packager=packager, counts=counts,
                  headers_sent=sorted(headers))

    # the top-level report: the output file, and the size check mode returns
    plain, entries, missing = render(p['format'], headers, packages, p['products']) if (
        p['format'] == 'pakiti' or p['products']) else (b'', None, None)
    if top_bytes is not None and p['format'] == 'pakiti':
        plain = top_bytes
    result['report_size'] = len(plain)
    if entries is not None:
        result['versions'], result['missing_products'] = entries, missing
    if p.get('output'):
        data = _encryption().encrypt(plain, top_recipient) if top_recipient else plain
        changed = write_private(p['output'], data, 'The report file', check_mode=check_mode)
        result['output'] = {'path': p['output'], 'changed': changed, 'size': len(data),
                            'encrypted': top_recipient is not None, 'format': p['format']}
        result['changed'] = result['changed'] or changed

    # each destination
    outcomes, failed, new_state = [], [], dict(state)
    client_cache = {}
    for dest in dests:
        d_headers, d_packages, d_counts = dest.filters.apply(headers, packages)
        d_counts = dict(d_counts, found=counts['found'], filtered=counts['found'] - d_counts['sent'])
        if dest.format == 'pakiti' and top_bytes is not None and not dest.filtering:
            body = top_bytes
            d_entries = d_missing = None
        else:
            body, d_entries, d_missing = render(dest.format, d_headers, d_packages, dest.products)
        digest = _digest(body)
        previous = state.get(dest.name) or {}
        differs = not (previous.get('sha256') == digest and previous.get('url') == vhttp.safe_url(dest.url))
        outcome = {'name': dest.name, 'url': vhttp.safe_url(psend.feed_url(dest.url, dest.mode, dest.protocol_version)),
                   'format': dest.format, 'mode': dest.mode, 'counts': d_counts, 'size': len(body),
                   'encrypted': dest.recipient is not None, 'sent': False, 'changed': differs,
                   'findings': [], 'error': None}
        if d_entries is not None:
            outcome['versions'], outcome['missing_products'] = d_entries, d_missing
        if check_mode:
            outcomes.append(outcome)
            result['changed'] = result['changed'] or differs
            continue
        try:
            payload = _encryption().encrypt(body, dest.recipient) if dest.recipient else body
            import json
            key = json.dumps(dest.http, sort_keys=True, default=str)
            client = client_cache.get(key)
            if client is None:
                client = client_cache[key] = vhttp.HttpClient(dest.http, sleep=sleep)
            reply = psend.send(client, dest.url, payload, mode=dest.mode, protocol_version=dest.protocol_version,
                               expect_re=dest.expect_re, encrypted=dest.recipient is not None,
                               fmt=dest.format)
        except VaporError as exc:
            outcome['error'] = exc.msg
            outcome['changed'] = False
            failed.append(dest.name)
            outcomes.append(outcome)
            continue
        # a collector may name packages this destination was not sent (it knows them from elsewhere): the result
        # never names a package the site filtered out, whoever names it
        withheld = found_names - set(pkg[0] for pkg in d_packages)
        findings = [f for f in reply['findings'] if f['name'] not in withheld]
        outcome.update(sent=True, status=reply['status'], findings=findings, reply=reply['reply'],
                       size=len(payload))
        if reply['odd_lines']:
            result['warnings'].append("%s answered %d line(s) that are not findings; they were left out."
                                      % (dest.what, reply['odd_lines']))
        if len(findings) < len(reply['findings']):
            result['warnings'].append("%s answered %d finding(s) for packages that were filtered out of its report; "
                                      "they were left out." % (dest.what, len(reply['findings']) - len(findings)))
        new_state[dest.name] = {'url': vhttp.safe_url(dest.url), 'sha256': digest, 'sent': int(time.time())}
        result['changed'] = result['changed'] or differs
        outcomes.append(outcome)
    for client in client_cache.values():
        client.close()

    result['destinations'] = outcomes
    result['failed_destinations'] = failed
    result['findings'] = sum(len(o['findings']) for o in outcomes)
    if p.get('state_file') and not check_mode and (new_state != state or state_warning):
        import json
        blob = json.dumps({'version': STATE_VERSION, 'destinations': new_state}, sort_keys=True, indent=1).encode()
        write_private(p['state_file'], blob + b'\n', 'The state file')
    if failed:
        msg = failure_sentence(outcomes, failed, len(dests))
        if p['allow_partial'] and len(failed) < len(dests):
            result['warnings'].append(msg)
        else:
            result['aborted'] = msg
    return result


def failure_sentence(outcomes, failed, total):
    errors = dict((o['name'], o['error']) for o in outcomes if o['error'])
    if len(failed) == 1:
        name = failed[0]
        return "The report did not reach the destination '%s' (%d of %d failed): %s" % (
            name, 1, total, errors[name])
    parts = ["'%s' (%s)" % (name, errors[name].rstrip('.')) for name in failed]
    return "The report did not reach %d of %d destinations: %s." % (len(failed), total, '; '.join(parts))
