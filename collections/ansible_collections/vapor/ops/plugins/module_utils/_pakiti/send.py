# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Sending a report to a Pakiti collector (protocol 5) and reading its answer:
#   POST <url>?mode=<mode>&protocol=5 with the report bytes (plain, or S/MIME DER) as the body;
#   success = 2xx and a body whose first line is OK; the lines after it are findings
#   (name TAB version-release TAB arch TAB CVE TAB tag); ERROR or any other answer is a failure.
# Older collectors (the WLCG MW Readiness one, pakiti2) are matched by 'expect': a regular expression searched in
# "STATUS REASON" and the body, the way pakiti-client 3.0.1/3.0.2 matched curl's output. Of a body longer than
# EXPECT_SCAN characters only the last EXPECT_SCAN are searched (pakiti-client 3.0.2 matched the end of the answer;
# pakiti2 ends its answer with OK): a pattern such as '.*th4nk.*y0u' takes a time that grows with the square of the
# text, and a collector must not be able to hold the run for hours with a big answer.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vapor.ops.plugins.module_utils._clients import http as vhttp
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

# the collector's modes (the 'mode' option's choices, _pakiti/options.py)
MODES = ('store-only', 'store-and-report', 'report-only')
PROTOCOL = '5'
# the largest reply read (findings of a big host fit many times); a larger one is an error, never cut silently
MAX_REPLY = 16 << 20
# characters of a reply's body an expect pattern is searched in (the end of a longer body)
EXPECT_SCAN = 16 << 10


def feed_url(url, mode=None, protocol_version=True):
    """The URL with the query pakiti-client adds: mode=<mode> when set, protocol=5 unless protocol_version=False."""
    extra = []
    if mode:
        extra.append('mode=%s' % mode)
    if protocol_version:
        extra.append('protocol=%s' % PROTOCOL)
    if not extra:
        return url
    base, sep, fragment = url.partition('#')
    joiner = '&' if '?' in base else '?'
    if base.endswith('?') or base.endswith('&'):
        joiner = ''
    return base + joiner + '&'.join(extra) + (sep + fragment if sep else '')


def compile_expect(expect, what):
    if not expect:
        return None
    try:
        return re.compile(expect)
    except re.error as exc:
        raise VaporError("%s has an expect pattern '%s' that does not compile: %s." % (what, expect, exc))


def parse_findings(lines):
    """Finding lines -> ([{name, version, arch, cve, tag}], number of lines that are not findings)."""
    findings, odd = [], 0
    for line in lines:
        line = line.rstrip('\r')
        if not line.strip():
            continue
        fields = line.split('\t')
        if len(fields) != 5 or not all(f.strip() for f in fields):
            odd += 1
            continue
        findings.append(dict(zip(('name', 'version', 'arch', 'cve', 'tag'), (f.strip() for f in fields))))
    return findings, odd


def read_reply(response, url, expect_re):
    """(findings, odd line count, reply text summary) of a collector's 2xx answer; HttpError if it is not one."""
    text = response.content.decode('utf-8', 'replace')
    if expect_re is not None:
        status_line = '%d %s' % (response.status_code, response.reason or '')
        if expect_re.search(status_line) or expect_re.search(text, max(0, len(text) - EXPECT_SCAN)):
            return [], 0, _summary(text)
        raise vhttp.HttpError("The answer of %s does not match the expected pattern '%s' (HTTP %d, %s)."
                              % (vhttp.safe_url(url), expect_re.pattern, response.status_code, _summary(text)),
                              url=vhttp.safe_url(url), status=response.status_code)
    lines = text.split('\n')
    first = lines[0].strip()
    if first == 'OK':
        findings, odd = parse_findings(lines[1:])
        return findings, odd, 'OK'
    if first == 'ERROR':
        raise vhttp.HttpError("%s answered ERROR." % vhttp.safe_url(url), url=vhttp.safe_url(url),
                              status=response.status_code)
    raise vhttp.unexpected_body(url, "a Pakiti collector's reply (OK or ERROR)", response)


def _summary(text):
    words = ' '.join(re.sub('[\x00-\x1f\x7f-\x9f]', ' ', text).split())
    if not words:
        return 'an empty body'
    return "body '%s'" % (words[:60] + ('...' if len(words) > 60 else ''))


CONTENT_TYPES = {'pakiti': 'text/plain; charset=utf-8', 'versions': 'application/json'}


def send(client, url, body, mode=None, protocol_version=True, expect_re=None, encrypted=False, fmt='pakiti'):
    """POST one report; return {'status', 'findings', 'odd_lines', 'reply'}. HttpError on any failure."""
    target = feed_url(url, mode, protocol_version)
    # pakiti-client's LWP sends form-urlencoded; the server sniffs the body, not this header. octet-stream for a DER
    # blob, text/plain for a plain report and JSON for a version report say what the body is.
    headers = {'Content-Type': 'application/octet-stream' if encrypted else CONTENT_TYPES[fmt]}
    # a report is not sent twice after a read timeout (a collector may have stored it): safe=False
    response = client.request('POST', target, expect=None, safe=False, data=body, headers=headers,
                              allow_redirects=True, max_bytes=MAX_REPLY)
    findings, odd, reply = read_reply(response, target, expect_re)
    return {'status': response.status_code, 'findings': findings, 'odd_lines': odd, 'reply': reply}
