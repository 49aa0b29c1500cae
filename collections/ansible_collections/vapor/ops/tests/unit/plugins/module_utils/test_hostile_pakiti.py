# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile review of package reporting (_pakiti), the HTTP client's helpers and the GOCDB core, without a network:
files that are not regular files where package_report reads or writes (a FIFO must never hang the run, a device
is never replaced), an expect pattern on a collector's big answer, control characters and credentials in
messages, GOCDB answers in another encoding or with an <error> among the records, GOCDB host names that are not
DNS names, a package manager's error line; and what held (the site header, odd report files, certificates)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat
import subprocess
import threading

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._clients import http as vhttp
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common import urls
from ansible_collections.vapor.ops.plugins.module_utils._infosys import gocdb
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import collect as pcollect
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import encrypt as penc
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import report as preport
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import run as prun
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import send as psend

GOCDB_URL = 'https://gocdb.example.org/gocdbpi/public/'


class _Inv(object):
    headers = {'arch': 'x86_64', 'host': 'h.example.org', 'packager': 'rpm', 'version': '1'}
    packages = [('bash', '0:5.1-1.el9', 'x86_64')]
    packager = 'rpm'
    warnings = []


def collect(**kwargs):
    return _Inv()


def within(seconds, fn, *args, **kwargs):
    """Call ``fn`` in a thread; fail when it is still running after ``seconds`` (it hangs), else its outcome."""
    box = {}

    def target():
        try:
            box['value'] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test
            box['error'] = exc
    thread = threading.Thread(target=target)
    thread.daemon = True
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), 'still running after %d s: it hangs' % seconds
    if 'error' in box:
        raise box['error']
    return box['value']


def refused(params, **kwargs):
    with pytest.raises(VaporError) as exc:
        within(60, prun.run, params, collect=collect, environ={}, **kwargs)
    msg = exc.value.msg
    assert msg.endswith('.') and '\n' not in msg, msg
    return msg


# ----- files that are not regular files --------------------------------------------------------------------------

def test_a_fifo_a_device_or_a_directory_as_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / 'report.fifo'
    os.mkfifo(str(fifo))
    out = str(tmp_path / 'out')
    assert refused({'input': str(fifo), 'output': out}) == "The input report '%s' is a FIFO, not a regular file." % fifo
    assert refused({'input': '/dev/zero', 'output': out}) == ("The input report '/dev/zero' is a character device, not "
                                                              "a regular file.")
    assert refused({'input': str(tmp_path), 'output': out}) == ("The input report '%s' is a directory, not a regular "
                                                                "file." % tmp_path)
    assert not os.path.exists(out)


def test_a_huge_input_file_is_refused_without_reading_it_all(tmp_path):
    huge = tmp_path / 'huge.report'
    with open(str(huge), 'wb') as handle:
        handle.truncate((prun.MAX_INPUT) + (1 << 30))       # sparse: a 1 GiB file that takes no room
    assert refused({'input': str(huge), 'output': str(tmp_path / 'out')}) == (
        "The input report '%s' is larger than 64 MiB, which no package report is." % huge)


def test_a_fifo_as_the_encryption_certificate_is_refused_at_once(tmp_path):
    fifo = tmp_path / 'cert.fifo'
    os.mkfifo(str(fifo))
    assert refused({'output': str(tmp_path / 'out'), 'encrypt': str(fifo)}) == (
        "The encryption certificate '%s' is a FIFO, not a regular file." % fifo)


@pytest.mark.parametrize('option,label', [('output', 'The report file'), ('state_file', 'The state file')])
def test_a_fifo_where_a_file_is_written_is_refused_and_left_as_it_is(tmp_path, option, label):
    fifo = tmp_path / 'target.fifo'
    os.mkfifo(str(fifo))
    params = {'output': str(tmp_path / 'out'), option: str(fifo)}
    assert refused(params) == "%s '%s' is a FIFO, not a regular file; it is left as it is." % (label, fifo)
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)
    assert not os.path.exists(str(tmp_path / 'out'))


@pytest.mark.skipif(os.geteuid() != 0, reason='making a device node needs root')
@pytest.mark.parametrize('option,label', [('output', 'The report file'), ('state_file', 'The state file')])
def test_a_device_where_a_file_is_written_is_never_replaced(tmp_path, option, label):
    null = tmp_path / 'null'
    os.mknod(str(null), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    params = {'output': str(tmp_path / 'out'), option: str(null)}
    assert refused(params) == "%s '%s' is a character device, not a regular file; it is left as it is." % (label, null)
    st = os.lstat(str(null))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_a_state_file_linked_to_a_fifo_is_a_warning_and_the_link_is_replaced(tmp_path):
    fifo = tmp_path / 'fifo'
    os.mkfifo(str(fifo))
    link = tmp_path / 'state.json'
    link.symlink_to(fifo)
    result = within(60, prun.run, {'output': str(tmp_path / 'out'), 'state_file': str(link)}, collect=collect,
                    environ={})
    assert result['warnings'] == ["The state file '%s' is a FIFO, not a regular file; every delivery counts as a change "
                                  "this time." % link]
    assert not link.is_symlink() and stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)


# ----- a collector's answer ----------------------------------------------------------------------------------------

class _Response(object):
    def __init__(self, body, status=200, reason='OK', ctype='text/plain'):
        self.status_code, self.content, self.reason = status, body, reason
        self.headers = {'Content-Type': ctype}


class _Spy(object):
    """A compiled pattern that records how long a text it is asked to search; beyond 64 KiB it does not search (the
    pattern below would take hours on the whole text) and the test fails on the recorded length."""

    def __init__(self, pattern):
        self.regex = re.compile(pattern)
        self.pattern = pattern
        self.spans = []

    def search(self, text, pos=0, endpos=None):
        endpos = len(text) if endpos is None else endpos
        self.spans.append(endpos - pos)
        if endpos - pos > 1 << 16:
            return None
        return self.regex.search(text, pos, endpos)


def test_an_expect_pattern_is_searched_in_a_bounded_part_of_a_big_answer():
    # '.*th4nk.*y0u' takes a time that grows with the square of the text: on a whole 16 MiB answer, hours
    spy = _Spy(r'.*th4nk.*y0u')
    with pytest.raises(VaporError, match=r"does not match the expected pattern '\.\*th4nk\.\*y0u' \(HTTP 200, body 'xxx"):
        psend.read_reply(_Response(b'x' * (psend.MAX_REPLY - 1)), 'https://c.example.org/feed/', spy)
    assert spy.spans and max(spy.spans) <= 1 << 16
    assert max(spy.spans) == psend.EXPECT_SCAN


def test_an_expect_pattern_still_matches_the_end_of_a_long_pakiti2_answer():
    outdated = b''.join(b'pkg%06d 1.0-%d SEC 0.9-1\n' % (i, i) for i in range(40000))
    assert len(outdated) > 1 << 16                     # longer than any part an expect pattern is searched in
    reply = psend.read_reply(_Response(outdated + b'OK'), 'https://c.example.org/feed/', re.compile('OK$'))
    assert reply[0] == [] and reply[2].startswith("body 'pkg000000 1.0-0 SEC")


def test_control_characters_of_a_server_never_reach_a_message():
    with pytest.raises(VaporError) as exc:
        psend.read_reply(_Response(b'\x1b]0;owned\x07\x1b[2Jnope'), 'https://c.example.org/feed/',
                         re.compile('th4nk'))
    assert '\x1b' not in exc.value.msg and '\x07' not in exc.value.msg
    assert "body ']0;owned [2Jnope'" in exc.value.msg
    assert vhttp._clean('Forbidden \x1b[31mred\x1b[0m \x9b') == 'Forbidden [31mred [0m'
    assert gocdb._one_line('No \x1b[2Jaccess\x00') == 'No [2Jaccess'


def test_secrets_written_inside_urls_are_found_and_hidden():
    url = 'https://reporter:Pa55@c.example.org/feed/?token=T0k&apikey=K3y&sig=S1g&mode=store-only'
    assert urls.url_secrets(url) == set(['Pa55', 'T0k', 'K3y', 'S1g'])
    assert urls.url_secrets('https://ghp_T0KEN@c.example.org/') == set(['ghp_T0KEN'])
    assert urls.url_secrets('https://c.example.org/feed/?mode=store-only') == set()
    assert urls.url_secrets(None) == set()
    shown = vhttp.safe_url(url)
    assert not any(s in shown for s in ('Pa55', 'T0k', 'K3y', 'S1g')) and shown.endswith('&mode=store-only')


def test_the_module_hides_the_secrets_of_every_url_it_is_given():
    from ansible_collections.vapor.ops.plugins.modules import package_report
    params = {'url': 'https://u:P1@a.example.org/', 'proxy_url': 'http://p:P2@proxy.example.org:3128',
              'destinations': [{'name': 'd', 'url': 'https://b.example.org/?access_token=P3',
                                'http': {'token': 'P4', 'proxy_url': 'http://q:P5@proxy'}},
                               {'name': 'e', 'url': 'https://c.example.org/feed/'}]}
    assert package_report._url_secrets(params) == set(['P1', 'P2', 'P3', 'P4', 'P5', 'http://q:P5@proxy'])


# ----- GOCDB -------------------------------------------------------------------------------------------------------

def _endpoint(ident, host, stype='SRM'):
    return ('<SERVICE_ENDPOINT PRIMARY_KEY="%dG0"><PRIMARY_KEY>%dG0</PRIMARY_KEY><HOSTNAME>%s</HOSTNAME>'
            '<SERVICE_TYPE>%s</SERVICE_TYPE><IN_PRODUCTION>Y</IN_PRODUCTION><NODE_MONITORED>Y</NODE_MONITORED>'
            '<SITENAME>SITE-A</SITENAME><SCOPES><SCOPE>EGI</SCOPE></SCOPES></SERVICE_ENDPOINT>' % (ident, ident, host, stype))


def test_an_error_among_the_records_is_gocdbs_error_not_an_empty_record(parser):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<results>%s<error>Database connection lost</error></results>'
            % _endpoint(1, 'se.example.org')).encode()
    with pytest.raises(gocdb.GocdbRefused) as exc:
        gocdb.read_page(gocdb.parse_answer(body, GOCDB_URL), GOCDB_URL)
    assert exc.value.msg == 'GOCDB at %s refused the query: Database connection lost.' % GOCDB_URL


BOMB = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE results [\n<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">\n'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n<!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n'
        '<results>%s</results>' % _endpoint(1, '&b;&x;'))


@pytest.mark.parametrize('encoding', ['utf-16-le', 'utf-16-be', 'utf-16', 'utf-32'])
def test_a_document_type_declaration_in_utf16_or_utf32_is_refused_unparsed(parser, monkeypatch, encoding):
    def never(data):
        raise AssertionError('the answer was parsed')
    monkeypatch.setattr(gocdb, '_parse_xml', never)
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(BOMB.encode(encoding), GOCDB_URL)
    assert exc.value.msg == ('GOCDB at %s answered with NUL bytes (UTF-16 or UTF-32 text, or binary data), not the '
                             'UTF-8 XML of the programmatic interface; the answer was not parsed.' % GOCDB_URL)


def test_a_declared_encoding_never_hides_a_document_type_declaration(parser):
    # in UTF-7, '+ADw-' is '<': read as UTF-8 (what GOCDB writes), the declaration is text before the root
    body = (b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE results +AFs-+ADw-!ENTITY y +ACI-internal+ACI-+AD4-'
            b'+AF0-+AD4-<results><SERVICE_ENDPOINT><HOSTNAME>+ACY-y+ADs-</HOSTNAME></SERVICE_ENDPOINT></results>')
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(body, GOCDB_URL)
    assert exc.value.msg.startswith('GOCDB at %s answered with malformed XML (' % GOCDB_URL)


def test_a_trailing_dot_is_the_same_host_and_names_that_are_not_dns_names_are_left_out(parser):
    names = ['se01.example.org', 'SE01.Example.Org.', '-oProxyCommand=touch /tmp/x', '../../etc', 'ce 01.example.org',
             'ce01.example.org', '.', 'a..b.example.org']
    body = ('<results>%s</results>' % ''.join(_endpoint(i + 1, n, 'T%d' % i) for i, n in enumerate(names))).encode()
    eps = [gocdb.parse_service_endpoint(e) for e in gocdb.read_page(gocdb.parse_answer(body, GOCDB_URL), GOCDB_URL).records]
    assert eps[1]['hostname'] == 'SE01.Example.Org'
    skipped = []
    hosts = gocdb.hosts_from_endpoints(eps, skipped)
    assert sorted(hosts) == ['ce01.example.org', 'se01.example.org']
    assert hosts['se01.example.org']['service_types'] == ['T0', 'T1']
    assert sorted(skipped) == sorted(['-oProxyCommand=touch /tmp/x', '../../etc', 'ce 01.example.org',
                                      'a..b.example.org'])
    assert gocdb.valid_hostname('192.0.2.1') and gocdb.valid_hostname('_srv.example.org')
    assert not gocdb.valid_hostname('-x') and not gocdb.valid_hostname('a' * 64 + '.org')
    assert not gocdb.valid_hostname('se01.example.org\n') and not gocdb.valid_hostname('se01.example.org ')


def test_one_host_in_two_sites_is_one_host_in_both(parser):
    body = ('<results>%s%s</results>' % (_endpoint(1, 'se.example.org', 'SRM'),
                                         _endpoint(2, 'se.example.org', 'webdav').replace('SITE-A', 'SITE-B'))).encode()
    eps = [gocdb.parse_service_endpoint(e) for e in gocdb.read_page(gocdb.parse_answer(body, GOCDB_URL), GOCDB_URL).records]
    hosts = gocdb.hosts_from_endpoints(eps)
    assert list(hosts) == ['se.example.org']
    assert hosts['se.example.org']['sites'] == ['SITE-A', 'SITE-B'] and hosts['se.example.org']['site'] == 'SITE-A'


class _Answer(object):
    def __init__(self, body):
        self.content = body
        self.headers = {'Content-Type': 'application/xml'}


class _Canned(object):
    def __init__(self, answer):
        self.answer = answer
        self.cursors = []

    def get(self, url):
        query = gocdb.parse_qs(gocdb.urlsplit(url).query)
        cursor = query.get('next_cursor', [None])[-1]
        self.cursors.append(cursor)
        return _Answer(self.answer(cursor))


def _page(records, nxt):
    link = '<link rel="next" href="/gocdbpi/public/?method=m&amp;next_cursor=%s"/>' % nxt if nxt is not None else ''
    return ('<results><meta>%s<count>%d</count><max_page_size>2</max_page_size></meta>%s</results>'
            % (link, len(records), ''.join(records))).encode()


def test_paging_cursors_that_go_backwards_give_each_endpoint_once(parser):
    eps = [_endpoint(i, 'h%d.example.org' % i) for i in range(1, 6)]
    pages = {'0': _page(eps[3:5], 5), '5': _page(eps[0:2], 2), '2': _page(eps[1:3], 3), '3': _page(eps[2:3], None)}
    client = _Canned(lambda cursor: pages[cursor])
    found = gocdb.Gocdb(client, GOCDB_URL).service_endpoints()
    assert [e['hostname'] for e in found] == ['h%d.example.org' % i for i in range(1, 6)]
    assert client.cursors == ['0', '5', '2', '3']


def test_an_empty_results_document_is_no_endpoint(parser):
    client = _Canned(lambda cursor: b'<?xml version="1.0" encoding="UTF-8"?>\n<results/>\n')
    assert gocdb.Gocdb(client, GOCDB_URL).service_endpoints() == []
    assert client.cursors == ['0']


# ----- package managers --------------------------------------------------------------------------------------------

def test_a_failing_package_manager_is_named_by_its_error_line_not_its_first_warning(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'os-release').write_text('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n')
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'cpuinfo').write_text('model name\t: Test CPU\n')
    err = (b"dpkg-query: warning: parsing file '/var/lib/dpkg/status' near line 18 package 'x:am\td64':\n"
           b" 'am\td64' is not a valid architecture name\n"
           b"dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 52 package 'sp':\n"
           b" 'Version' field value '1 2': version string has embedded spaces\n")

    def run(name, args):
        return (2, b'', err) if name == 'dpkg-query' else None
    with pytest.raises(VaporError) as exc:
        pcollect.collect(packager='dpkg', host='h.example.org', run=run, root=str(tmp_path))
    assert exc.value.msg == ("No package list for this host: dpkg-query exited with status 2 (dpkg-query: error: "
                             "parsing file '/var/lib/dpkg/status' near line 52 package 'sp': 'Version' field value "
                             "'1 2': version string has embedded spaces).")


# ----- what held ---------------------------------------------------------------------------------------------------

def test_set_site_with_a_newline_or_control_characters_stays_one_header_line():
    report = b'#\nhost: wn1.example.org\nsite: OLD\nversion: 1\n#\nbash\t0:5.1-1\tx86_64\n#\n'
    changed = preport.set_site(report, 'EVIL\nhost: other.example.org\x00\t\x1b[2J')
    assert changed == report.replace(b'site: OLD', b'site: EVIL host: other.example.org [2J')
    headers, lines = preport.parse_report(changed, 'x')
    assert headers['host'] == 'wn1.example.org' and len(lines) == 1


@pytest.mark.parametrize('data,cause', [
    (b'#\nhost: h\nversion: 1\n#\nsite: EVIL\n#\n', 'has a line 5 that is not a package line'),
    (b'#\r\nhost: h\r\nversion: 1\r\n', 'has CR characters'),
    (b'#\nhost: h\nversion: 1\n#\nbash 0:5.1-1 x86_64\n#\n', 'has a line 5 that is not a package line'),
    (b'#\nhost: h\x1b[2J\nversion: 1\n', 'holds binary data (byte 0x1b at offset 9)'),
])
def test_odd_prepared_reports_are_refused(data, cause):
    with pytest.raises(VaporError, match=re.escape(cause)):
        preport.parse_report(data, 'x')


def _openssl_cert(tmp_path, name):
    key, cert = tmp_path / (name + '.key'), tmp_path / (name + '.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(key), '-out', str(cert),
                    '-subj', '/CN=' + name, '-days', '30'], check=True, capture_output=True)
    return key, cert


def test_certificates_a_self_signed_one_and_one_with_text_around_it_are_taken_a_chain_is_not(tmp_path):
    # openssl req -x509, the way a collector's key pair is often made, marks the certificate CA:TRUE
    key, cert = _openssl_cert(tmp_path, 'collector')
    recipient = penc.load_recipient(str(cert))
    blob = penc.encrypt(b'#\nhost: h\nversion: 1\n', recipient)
    (tmp_path / 'blob').write_bytes(blob)
    plain = subprocess.run(['openssl', 'smime', '-decrypt', '-binary', '-inform', 'DER', '-inkey', str(key), '-in',
                            str(tmp_path / 'blob')], check=True, capture_output=True).stdout
    assert plain == b'#\nhost: h\nversion: 1\n'
    noisy = tmp_path / 'noisy.pem'
    noisy.write_bytes(b'subject=/CN=collector\nissuer=/CN=collector\n' + cert.read_bytes() + b'trailing words\n')
    assert penc.load_recipient(str(noisy)).pem == recipient.pem
    other_key, other = _openssl_cert(tmp_path, 'other')
    chain = tmp_path / 'chain.pem'
    chain.write_bytes(cert.read_bytes() + other.read_bytes())
    with pytest.raises(VaporError, match=r"holds 2 certificates; give the collector's certificate alone\.$"):
        penc.load_recipient(str(chain))


def test_write_private_itself_refuses_special_files_and_never_blocks_on_a_fifo(tmp_path):
    """write_private() is shared (package_report's output and state file today, other jobs' files later): it refuses
    a FIFO, a socket or a device at the path by itself, leaves it there, and never opens a FIFO in a way that waits
    for a writer."""
    import socket
    from ansible_collections.vapor.ops.plugins.module_utils._common.files import same_content, write_private
    fifo = tmp_path / 'fifo'
    os.mkfifo(str(fifo))
    assert same_content(str(fifo), b'x') is False       # returns at once: no writer needed
    for check_mode in (True, False):
        with pytest.raises(VaporError) as exc:
            write_private(str(fifo), b'data\n', 'The report file', check_mode=check_mode)
        assert exc.value.msg == "The report file '%s' is a FIFO, not a regular file; it is left as it is." % fifo
        assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)
    sock_path = tmp_path / 's'
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        with pytest.raises(VaporError, match=r"is a socket, not a regular file; it is left as it is\.$"):
            write_private(str(sock_path), b'data\n', 'The state file')
    finally:
        sock.close()
    with pytest.raises(VaporError, match=r"^The report file '/dev/null' is a character device, not a regular file"):
        write_private('/dev/null', b'data\n', 'The report file')


# -- URL secrets: every form a password or token takes, and nothing more (hostile review) ----------------------------

# (URL, what safe_url() shows, what url_secrets() gives): safe_url() masks exactly what url_secrets() gives
URL_SECRET_FORMS = [
    # an '@' inside the password: the user information ends at the last '@' of the authority (as urllib and requests
    # split it), so no part of the password stays in the message
    ('https://reporter:p@ss@c.example.org/feed/', 'https://c.example.org/feed/', {'p@ss'}),
    ('https://u:p@ss@wo@rd@c.example.org/feed/', 'https://c.example.org/feed/', {'p@ss@wo@rd'}),
    ('https://u:p@ss@c.example.org', 'https://c.example.org', {'p@ss'}),
    # percent-encoded characters: hidden as written (nothing in the collection decodes a password into its output)
    ('https://reporter:p%40ss%3Aw@c.example.org/feed/', 'https://c.example.org/feed/', {'p%40ss%3Aw'}),
    ('https://u:Pa55@[2001:db8::1]:8443/feed/?token=T0k', 'https://[2001:db8::1]:8443/feed/?token=***', {'Pa55', 'T0k'}),
    ('https://[2001:db8::1]/feed/?TOKEN=T0k&Access_Token=A1', 'https://[2001:db8::1]/feed/?TOKEN=***&Access_Token=***',
     {'T0k', 'A1'}),
    ('https://iam.example.org/cb#access_token=eyJhbGc.x.y&state=1', 'https://iam.example.org/cb#access_token=***&state=1',
     {'eyJhbGc.x.y'}),
    ('https://s3.example.org/b/o?X-Amz-Signature=abc123&X-Amz-Expires=60',
     'https://s3.example.org/b/o?X-Amz-Signature=***&X-Amz-Expires=60', {'abc123'}),
    ('https://h.example.org/x?refresh_token=R1&client_secret=C2', 'https://h.example.org/x?refresh_token=***&client_secret=***',
     {'R1', 'C2'}),
    ('https://ghp_T0KEN@c.example.org/', 'https://c.example.org/', {'ghp_T0KEN'}),
    # a parameter whose name merely ends in key, sig or token is not a secret: its value ('1', 'name') would
    # otherwise be masked everywhere in the module's output
    ('https://goc.example.org/api/?sortkey=name&monkey=1&page=2', 'https://goc.example.org/api/?sortkey=name&monkey=1&page=2',
     set()),
    ('davs://alice:pw@se.example.org/atlas/a@b', 'davs://se.example.org/atlas/a@b', {'pw'}),
]


@pytest.mark.parametrize('url, shown, secrets', URL_SECRET_FORMS)
def test_safe_url_and_url_secrets_agree_on_every_form_of_a_secret(url, shown, secrets):
    assert urls.safe_url(url) == shown
    assert urls.url_secrets(url) == secrets
    for secret in secrets:
        assert secret not in shown
    # and the reverse: each value safe_url() masks in the query is one of the secrets, and each secret is either
    # such a value or the password (or token) of the user information, which safe_url() leaves out whole
    query_secrets = [secret for secret in secrets if '=' + secret in url]
    assert shown.count('***') == len(query_secrets)
    assert all('=%s' % secret in url or '%s@' % secret in url for secret in secrets)


def test_a_storage_urls_user_name_stays_readable_and_an_at_in_its_path_is_no_user():
    assert urls.url_secrets('root://atlas@se.example.org//atlas/data', bare_user=False) == set()
    assert urls.url_secrets('davs://se.example.org/atlas/mail@atlas', bare_user=False) == set()
    assert urls.safe_url('davs://se.example.org/atlas/mail@atlas') == 'davs://se.example.org/atlas/mail@atlas'


# -- write_private() against a hostile directory (hostile review) ------------------------------------------------------


def test_write_private_never_sets_a_mode_through_a_link_swapped_in_after_its_check(tmp_path, monkeypatch):
    """The file holds the data already, only its mode differs; between the check of its content and the mode being
    set, someone who can write in the directory puts a link to another file there. That file's mode stays, and
    the path ends up a regular file with the data and the mode (the link replaced, not followed)."""
    from ansible_collections.vapor.ops.plugins.module_utils._common import files
    victim = tmp_path / 'shadow'
    victim.write_bytes(b'root:secret\n')
    os.chmod(str(victim), 0o600)
    path = tmp_path / 'report'
    path.write_bytes(b'data\n')
    os.chmod(str(path), 0o600)
    real_same = files.same_content
    calls = []

    def same_then_swap(where, data):
        result = real_same(where, data)
        calls.append(where)
        if len(calls) == 2:           # the last look before the mode is set: the attacker's moment
            os.unlink(str(path))
            os.symlink(str(victim), str(path))
        return result
    monkeypatch.setattr(files, 'same_content', same_then_swap)
    assert files.write_private(str(path), b'data\n', 'The report file', mode=0o644) is True
    assert stat.S_IMODE(os.stat(str(victim)).st_mode) == 0o600 and victim.read_bytes() == b'root:secret\n'
    st = os.lstat(str(path))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644 and path.read_bytes() == b'data\n'


def test_write_private_replaces_a_fifo_put_there_after_its_check_without_opening_it(tmp_path, monkeypatch):
    """A FIFO put at the path after check_replaceable() looked: nothing blocks on it and nothing is written into
    it (a reader of it would see no data); the report replaces it whole."""
    import threading
    from ansible_collections.vapor.ops.plugins.module_utils._common import files
    path = tmp_path / 'report'
    real_check = files.check_replaceable

    def check_then_fifo(where, label):
        real_check(where, label)
        os.mkfifo(where)
    monkeypatch.setattr(files, 'check_replaceable', check_then_fifo)
    box = {}
    worker = threading.Thread(target=lambda: box.update(done=files.write_private(str(path), b'data\n', 'The report file')),
                              daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():                 # blocked on the FIFO: open it for writing to let it go, then fail
        os.close(os.open(str(path), os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail('write_private() blocked on a FIFO')
    assert box == {'done': True}
    assert stat.S_ISREG(os.lstat(str(path)).st_mode) and path.read_bytes() == b'data\n'


def test_write_private_through_a_linked_parent_directory_and_into_a_read_only_one(tmp_path):
    """A link among the parent directories is the site's layout (/var/lib -> /data/lib) and is used; only the file
    itself is never written through a link. A directory that cannot be written to (/sys, even for root) gives one
    sentence and leaves nothing behind."""
    from ansible_collections.vapor.ops.plugins.module_utils._common.files import write_private
    real = tmp_path / 'data'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'lib'))
    assert write_private(str(tmp_path / 'lib' / 'report'), b'data\n', 'The report file') is True
    assert (real / 'report').read_bytes() == b'data\n' and sorted(os.listdir(str(real))) == ['report']
    with pytest.raises(VaporError) as exc:
        write_private('/sys/vapor-report', b'data\n', 'The report file')
    assert exc.value.msg == "The report file '/sys/vapor-report' cannot be written: Permission denied."
    assert not os.path.lexists('/sys/vapor-report')
    (tmp_path / 'afile').write_bytes(b'')
    with pytest.raises(VaporError, match=r"^The report file '.*/afile/report' cannot be written: its directory does not "
                                         r"exist\.$"):
        write_private(str(tmp_path / 'afile' / 'report'), b'data\n', 'The report file')
