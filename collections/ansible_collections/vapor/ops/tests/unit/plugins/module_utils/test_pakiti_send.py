# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""package_report's sending side: feed URLs, collector replies and findings, S/MIME encryption (both ways, read
back by the real openssl), and the run's checks that refuse bad settings before anything is collected or sent."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import encrypt as penc
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import run as prun
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import send as psend

REPORT = b'#\narch: x86_64\nhost: wn1.example.org\npackager: rpm\nversion: 1\n#\nbash\t0:5.1.8-6.el9\tx86_64\n#\n'


@pytest.mark.parametrize('url,mode,proto,expected', [
    ('https://p.example.org/feed/', None, True, 'https://p.example.org/feed/?protocol=5'),
    ('https://p.example.org/feed/', 'report-only', True, 'https://p.example.org/feed/?mode=report-only&protocol=5'),
    ('https://p.example.org/feed/?x=1', 'store-only', True, 'https://p.example.org/feed/?x=1&mode=store-only&protocol=5'),
    ('http://mwr.example.org:8000/package-report', None, False, 'http://mwr.example.org:8000/package-report'),
    ('https://p.example.org/feed/?', None, True, 'https://p.example.org/feed/?protocol=5'),
])
def test_feed_url(url, mode, proto, expected):
    assert psend.feed_url(url, mode, proto) == expected


def test_findings_are_parsed_and_odd_lines_counted():
    findings, odd = psend.parse_findings(['openssl\t1:3.0.7-24.el9\tx86_64\tCVE-2024-5535\tHigh',
                                          '', 'garbage line', 'a\tb\tc\td', 'kernel\t5.14-1\tx86_64\tCVE-1\tCritical\r'])
    assert findings == [{'name': 'openssl', 'version': '1:3.0.7-24.el9', 'arch': 'x86_64', 'cve': 'CVE-2024-5535',
                         'tag': 'High'},
                        {'name': 'kernel', 'version': '5.14-1', 'arch': 'x86_64', 'cve': 'CVE-1', 'tag': 'Critical'}]
    assert odd == 2


class _Response(object):
    def __init__(self, status, body, reason='OK', ctype='text/plain'):
        self.status_code, self.content, self.reason = status, body, reason
        self.headers = {'Content-Type': ctype}


def test_reply_ok_error_html_and_expect():
    url = 'https://u:pw@p.example.org/feed/?protocol=5'
    assert psend.read_reply(_Response(200, b'OK\n'), url, None) == ([], 0, 'OK')
    with pytest.raises(VaporError, match=r"^https://p\.example\.org/feed/\?protocol=5 answered ERROR\.$"):
        psend.read_reply(_Response(200, b'ERROR'), url, None)
    with pytest.raises(VaporError, match=r"is not a Pakiti collector's reply \(OK or ERROR\) \(it is text/html\)\.$"):
        psend.read_reply(_Response(200, b'<html></html>', ctype='text/html; charset=utf-8'), url, None)
    mwr = psend.compile_expect('200 th4nk y0u', 'x')
    assert psend.read_reply(_Response(200, b'', reason='th4nk y0u'), url, mwr)[2] == 'an empty body'
    with pytest.raises(VaporError, match=r"does not match the expected pattern '200 th4nk y0u' \(HTTP 200, body 'OK'\)\.$"):
        psend.read_reply(_Response(200, b'OK\n'), url, mwr)
    with pytest.raises(VaporError, match=r"^x has an expect pattern '\(' that does not compile: "):
        psend.compile_expect('(', 'x')


def _openssl_decrypt(blob, key, tmp_path):
    src = tmp_path / 'in.der'
    src.write_bytes(blob)
    return subprocess.run(['openssl', 'smime', '-decrypt', '-binary', '-inform', 'DER', '-inkey', str(key),
                           '-in', str(src)], capture_output=True, check=True).stdout


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    """A collector certificate and key, an expired certificate, made by the openssl command."""
    if not shutil.which('openssl'):
        pytest.skip('the openssl command is needed')
    d = tmp_path_factory.mktemp('certs')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(d / 'key.pem'),
                    '-out', str(d / 'cert.pem'), '-days', '30', '-subj', '/CN=pakiti collector'],
                   capture_output=True, check=True)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', str(d / 'ec.key'), '-out', str(d / 'ec.pem'), '-days', '30', '-subj', '/CN=ec'],
                   capture_output=True, check=True)
    return d


@pytest.mark.parametrize('library', [True, False], ids=['cryptography', 'openssl-command'])
def test_encryption_decrypts_with_openssl_byte_identical(certs, tmp_path, library):
    if library and not penc.HAS_ENVELOPE:
        pytest.skip('this cryptography has no PKCS7EnvelopeBuilder')
    recipient = penc.load_recipient(str(certs / 'cert.pem'))
    blob = penc.encrypt(REPORT, recipient, prefer_library=library)
    assert blob[:1] == b'\x30' and REPORT not in blob
    assert _openssl_decrypt(blob, certs / 'key.pem', tmp_path) == REPORT
    # pakiti-client takes the PEM itself when the value has a newline
    inline = penc.load_recipient((certs / 'cert.pem').read_text())
    assert _openssl_decrypt(penc.encrypt(REPORT, inline, prefer_library=library), certs / 'key.pem', tmp_path) == REPORT


def test_certificate_checks(certs, tmp_path):
    with pytest.raises(VaporError, match=r"^The encryption certificate '.*key\.pem' is not a PEM certificate\.$"):
        penc.load_recipient(str(certs / 'key.pem'))
    with pytest.raises(VaporError, match=r"^The encryption certificate '.*nowhere' cannot be read: "):
        penc.load_recipient(str(tmp_path / 'nowhere'))
    two = tmp_path / 'two.pem'
    two.write_bytes((certs / 'cert.pem').read_bytes() * 2)
    with pytest.raises(VaporError, match=r"holds 2 certificates; give the collector's certificate alone\.$"):
        penc.load_recipient(str(two))
    later = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(days=60)
    if penc.HAS_CRYPTOGRAPHY:
        with pytest.raises(VaporError, match=r"^The encryption certificate '.*cert\.pem' expired on \d{4}-\d\d-\d\d "):
            penc.load_recipient(str(certs / 'cert.pem'), now=later)
        with pytest.raises(VaporError, match=r"does not hold an RSA key"):
            penc.load_recipient(str(certs / 'ec.pem'))


def test_run_refuses_bad_settings_before_collecting():
    def never(**kwargs):
        raise AssertionError('collected although the settings are wrong')

    cases = [
        ({}, "The package report has nowhere to go: give url, destinations or output."),
        ({'url': 'ftp://p.example.org/'}, "The destination 'url' has the URL 'ftp://p.example.org/', which is not an "
                                          "http:// or https:// URL."),
        ({'destinations': [{'name': 'a', 'url': 'https://a/'}, {'name': 'a', 'url': 'https://b/'}]},
         "The destination name 'a' is given twice."),
        ({'destinations': [{'name': 'w', 'url': 'https://w/', 'format': 'versions'}]},
         "The destination 'w' asks for the versions format but gives no products (service type: package name or "
         "pattern)."),
        ({'destinations': [{'name': 's', 'url': 'https://s/', 'http': {'token': 'abc'}}]},
         "The destination 's' sets token in its http settings, which would show in logs; set it for the module, or "
         "use token_file."),
        ({'destinations': [{'name': 's', 'url': 'https://s/', 'http': {'verify': False}}]},
         "The destination 's' has unknown HTTP option(s) verify; "),
        ({'url': 'https://s/', 'splay': -1}, "The splay of -1 seconds is negative."),
    ]
    for params, msg in cases:
        with pytest.raises(VaporError) as exc:
            prun.run(dict(params), collect=never, environ={})
        assert exc.value.msg.startswith(msg), (params, exc.value.msg)


def test_check_mode_output_counts_without_writing(tmp_path):
    class Inv(object):
        headers = {'arch': 'x86_64', 'host': 'h.example.org', 'kernel': '5.14.0-1.el9.x86_64', 'packager': 'rpm',
                   'system': 'Rocky Linux release 9.3 (Blue Onyx)', 'version': '1'}
        packages = [('bash', '0:5.1-1.el9', 'x86_64'), ('kernel', '0:5.14.0-1.el9', 'x86_64'),
                    ('zlib', '0:1.2.11-40.el9', 'x86_64')]
        packager = 'rpm'
        warnings = []

    out = tmp_path / 'r.txt'
    result = prun.run({'output': str(out), 'kernel': False}, check_mode=True, collect=lambda **kw: Inv(), environ={})
    assert not out.exists() and result['changed'] is True
    assert result['counts'] == {'found': 3, 'sent': 2, 'filtered': 1}
    assert 'kernel' not in result['headers_sent']
    result = prun.run({'output': str(out), 'kernel': False}, collect=lambda **kw: Inv(), environ={})
    assert out.read_bytes() == (b'#\narch: x86_64\nhost: h.example.org\npackager: rpm\n'
                                b'system: Rocky Linux release 9.3 (Blue Onyx)\nversion: 1\n#\n'
                                b'bash\t0:5.1-1.el9\tx86_64\nzlib\t0:1.2.11-40.el9\tx86_64\n#\n')
    assert oct(os.stat(str(out)).st_mode & 0o777) == '0o600'
    again = prun.run({'output': str(out), 'kernel': False}, collect=lambda **kw: Inv(), environ={})
    assert again['changed'] is False and again['output']['changed'] is False


class _Inv(object):
    headers = {'arch': 'x86_64', 'host': 'h.example.org', 'packager': 'rpm', 'version': '1'}
    packages = [('bash', '0:5.1-1.el9', 'x86_64')]
    packager = 'rpm'
    warnings = []


def test_output_replaces_a_symbolic_link_and_never_writes_through_it(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious\n')
    out = tmp_path / 'report'
    out.symlink_to(victim)
    result = prun.run({'output': str(out)}, collect=lambda **kw: _Inv(), environ={})
    assert result['output']['changed'] and victim.read_bytes() == b'precious\n'
    assert not out.is_symlink() and out.read_bytes().startswith(b'#\narch: x86_64\n')


def test_output_in_a_missing_directory_or_on_a_directory_is_refused(tmp_path):
    with pytest.raises(VaporError, match=r"^The report file '.*/nowhere/r' cannot be written: its directory does not exist\.$"):
        prun.run({'output': str(tmp_path / 'nowhere' / 'r')}, collect=lambda **kw: _Inv(), environ={})
    with pytest.raises(VaporError, match=r"^The report file '.*' is a directory\.$"):
        prun.run({'output': str(tmp_path)}, collect=lambda **kw: _Inv(), environ={})


def test_a_corrupt_state_file_is_a_warning_and_is_replaced(tmp_path):
    state = tmp_path / 'state.json'
    state.write_text('{not json')
    result = prun.run({'output': str(tmp_path / 'r'), 'state_file': str(state)}, collect=lambda **kw: _Inv(),
                      environ={})
    assert any("is not the JSON package_report writes" in w for w in result['warnings'])
    assert json.loads(state.read_text()) == {'version': 1, 'destinations': {}}


def _child(code):
    """Run ``code`` in a fresh interpreter that imports the collection from this tree; its stdout."""
    import sys
    here = __file__
    root = here[:here.index('/ansible_collections/')]
    out = subprocess.run([sys.executable, '-c', 'import sys; sys.path.insert(0, %r)\n%s' % (root, code)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_run_that_only_writes_a_file_loads_no_http_or_crypto_library(tmp_path):
    """The scheduled run of a site that writes its report to a file pays only for what it uses: requests, urllib3,
    ssl, cryptography, json and hashlib stay unloaded (benchmarks/bench_package_report.py measures the gain)."""
    code = (
        "before = set(sys.modules)\n"   # an interpreter's site may load some of them (a .pth file): not the run
        "from ansible_collections.vapor.ops.plugins.module_utils._pakiti.run import run\n"
        "class Inv(object):\n"
        "    headers = {'arch': 'x86_64', 'host': 'h.example.org', 'packager': 'rpm', 'version': '1'}\n"
        "    packages = [('bash', '0:5.1-1.el9', 'x86_64')]\n"
        "    packager = 'rpm'\n"
        "    warnings = []\n"
        "result = run({'output': %r, 'kernel': False}, collect=lambda **kw: Inv(), environ={})\n"
        "assert result['output']['changed'] and result['counts']['sent'] == 1, result\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'ssl', 'cryptography', 'json', 'hashlib', 'random', 'socket')"
        " if m in sys.modules and m not in before))\n" % str(tmp_path / 'report'))
    assert _child(code) == '[]'
    assert (tmp_path / 'report').read_bytes().startswith(b'#\narch: x86_64\nhost: h.example.org\n')


def test_requests_missing_is_reported_by_requirement_and_by_the_client():
    code = (
        "sys.modules['requests'] = None\n"
        "from ansible_collections.vapor.ops.plugins.module_utils._clients import http\n"
        "from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError\n"
        "name, importable, error = http.requirement()\n"
        "assert (name, importable) == ('requests', False) and 'import of requests' in error, (name, importable, error)\n"
        "try:\n"
        "    http.HttpClient(http.http_settings({}))\n"
        "except VaporError as exc:\n"
        "    print(exc.msg)\n")
    assert _child(code) == 'The Python library requests is needed to speak HTTP and cannot be imported.'


def test_requests_present_is_reported_by_requirement():
    pytest.importorskip('requests')
    from ansible_collections.vapor.ops.plugins.module_utils._clients import http
    assert http.requirement() == ('requests', True, None)
