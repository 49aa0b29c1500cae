# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The package-report core: pakiti-client's strip(), the protocol 5 report, filters, the version-only report, and
collect() with a stand-in tool runner (the real rpm and dpkg-query are in tests/test_pakiti_collect.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re as _re
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import collect as collect_mod
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.collect import collect
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.filters import KERNEL_PACKAGES, Filters, is_kernel_package
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.report import format_report, parse_report, set_site, strip
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.versions import format_versions, versions_report

# -- strip() ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    ('  a  b\t\n c \n', 'a b c'),
    ('a \x01 b', 'a  b'),                    # deletion comes after the collapse: two spaces stay
    ('a \x01', 'a '),                        # ... and after the trim: the trailing space stays
    ('\x0b\x0cx\r\n', 'x'),                  # VT and FF are Perl whitespace
    ('caf\u00e9 au lait', 'caf au lait'),    # non-ASCII deleted
    ('a\u00a0b', 'ab'),                      # a Unicode space is not whitespace to Perl: deleted, not a space
    ('a \u00a0 b', 'a  b'),
    (b'a\xff b\n', 'a b'),                   # bytes: undecodable bytes deleted too
    ('x\x1cy', 'xy'),                        # str.isspace() says yes, Perl says no
    ('', ''),
    (None, ''),
])
def test_strip(value, expected):
    assert strip(value) == expected


# -- format_report() -------------------------------------------------------------------------------------------------

HEADERS = {'version': '1', 'host': 'wn1.example.org', 'arch': 'x86_64', 'kernel': '5.14.0-427.el9.x86_64',
           'packager': 'rpm', 'system': 'Rocky Linux release 9.3 (Blue Onyx)', 'site': 'MY-SITE', 'tag': 'MWR'}


def test_format_report_with_packages():
    data = format_report(HEADERS, [('bash', '0:5.1.8-6.el9_1', 'x86_64'), ('kernel', '0:5.14.0-427.el9', 'x86_64')])
    assert data == (b'#\narch: x86_64\nhost: wn1.example.org\nkernel: 5.14.0-427.el9.x86_64\npackager: rpm\n'
                    b'site: MY-SITE\nsystem: Rocky Linux release 9.3 (Blue Onyx)\ntag: MWR\nversion: 1\n#\n'
                    b'bash\t0:5.1.8-6.el9_1\tx86_64\nkernel\t0:5.14.0-427.el9\tx86_64\n#\n')


def test_format_report_without_packages_is_the_header_block_only():
    assert format_report({'host': 'h', 'version': '1', 'cpu': None}, []) == b'#\nhost: h\nversion: 1\n'


def test_format_report_keeps_undecodable_bytes():
    name = b'caf\xe9'.decode('utf-8', 'surrogateescape')
    assert format_report({'host': 'h'}, [(name, '1', 'all')]) == b'#\nhost: h\n#\ncaf\xe9\t1\tall\n#\n'


# -- parse_report() --------------------------------------------------------------------------------------------------

GOOD = b'#\narch: x86_64\nhost: h.example.org\nsite: OLD\nversion: 1\n#\nbash\t0:5.1-1\tx86_64\nzsh\t0:5.8-1\tx86_64\n#\n'


def test_parse_report():
    headers, lines = parse_report(GOOD, 'r.txt')
    assert headers == {'arch': 'x86_64', 'host': 'h.example.org', 'site': 'OLD', 'version': '1'}
    assert lines == [b'bash\t0:5.1-1\tx86_64', b'zsh\t0:5.8-1\tx86_64']
    assert parse_report(b'#\nhost: h\n', 'r.txt') == ({'host': 'h'}, [])


def test_parse_report_reads_what_format_report_writes():
    packages = [('a', '1:2-3', 'noarch'), ('b', '2', 'x86_64')]
    headers, lines = parse_report(format_report(HEADERS, packages), 'r.txt')
    assert headers == HEADERS
    assert lines == [b'a\t1:2-3\tnoarch', b'b\t2\tx86_64']


DER = b'\x30\x82\x01\x23\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03\xa0\x82\x01\x14'


@pytest.mark.parametrize('data, cause', [
    (b'', 'is empty'),
    (DER + b'\x00' * 40, 'S/MIME encrypted'),
    (b'#\nhost: h\x00\n', 'binary data'),
    (b'\x89PNG\r\n\x1a\n', 'binary data'),
    (b'#\r\nhost: h\r\n', 'CRLF'),
    (b'host: h\n#\n', "does not start with a '#' line"),
    (b'# report\nhost: h\n', "does not start with a '#' line"),
    (b'#\nhost: h', 'does not end with a line feed'),
    (b'#\nhost h\n', "line 2 that is neither a 'name: value' header nor '#'"),
    (b'#\n: h\n', "line 2 that is neither"),
    (b'#\nhost: a\nhost: b\n', "the header 'host' twice"),
    (b'#\narch: x86_64\n#\nbash\t1\tx86_64\n#\n', "no 'host' header"),
    (b'#\nhost: h\n#\nbash 1 x86_64\n#\n', 'line 4 that is not a package line'),
    (b'#\nhost: h\n#\nbash\t1\n#\n', 'line 4 that is not a package line'),
    (b'#\nhost: h\n#\nbash\t1\tx86_64\textra\n#\n', 'line 4 that is not a package line'),
    (b'#\nhost: h\n#\nbash\t\tx86_64\n#\n', 'line 4 that is not a package line'),
    (b'#\nhost: h\n#\nbash\t1\tx86_64\n', "no closing '#' line"),
    (b'#\nhost: h\n#\nbash\t1\tx86_64\n#\nzsh\t1\tx86_64\n', "lines after its closing '#' line (line 6)"),
])
def test_parse_report_refuses(data, cause):
    with pytest.raises(VaporError) as exc:
        parse_report(data, 'r.txt')
    msg = exc.value.msg
    assert msg.startswith("The report file 'r.txt' ")
    assert cause in msg
    assert msg.endswith('.') and msg.count('. ') == 0


@pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is not installed')
def test_parse_report_names_a_real_encrypted_report(tmp_path):
    """The blob pakiti-client's --encrypt makes (openssl smime ... -outform DER) is told apart from other binaries."""
    key, cert, plain, blob = (str(tmp_path / n) for n in ('key.pem', 'cert.pem', 'report', 'report.der'))
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                    '-subj', '/CN=collector', '-days', '1'], check=True, capture_output=True)
    with open(plain, 'wb') as handle:
        handle.write(GOOD)
    subprocess.run(['openssl', 'smime', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', '-in', plain,
                    '-out', blob, cert], check=True, capture_output=True)
    with open(blob, 'rb') as handle:
        data = handle.read()
    with pytest.raises(VaporError) as exc:
        parse_report(data, 'report.der')
    assert exc.value.msg == ("The report file 'report.der' is an S/MIME encrypted report (DER), not a plain-text one: "
                             "give the unencrypted report.")


# -- set_site() ------------------------------------------------------------------------------------------------------


def test_set_site_replaces_the_existing_header_in_place():
    assert set_site(GOOD, '  NEW   SITE ') == GOOD.replace(b'site: OLD\n', b'site: NEW SITE\n')


def test_set_site_inserts_before_the_second_separator():
    data = b'#\narch: x86_64\nhost: h\nversion: 1\n#\nbash\t0:5.1-1\tx86_64\n#\n'
    assert set_site(data, 'S') == b'#\narch: x86_64\nhost: h\nversion: 1\nsite: S\n#\nbash\t0:5.1-1\tx86_64\n#\n'


def test_set_site_without_packages_appends_to_the_headers():
    assert set_site(b'#\nhost: h\nversion: 1\n', 'S') == b'#\nhost: h\nversion: 1\nsite: S\n'


def test_set_site_leaves_package_lines_alone():
    data = b'#\nhost: h\n#\nsite: x\t1\tall\n#\n'     # not a header: in the package block
    assert set_site(data, 'S') == b'#\nhost: h\nsite: S\n#\nsite: x\t1\tall\n#\n'


# -- filters ---------------------------------------------------------------------------------------------------------

PACKAGES = [
    ('NetworkManager', '1:1.46.0-1.el9', 'x86_64'),
    ('kernel', '0:5.14.0-427.el9', 'x86_64'),
    ('kernel-core', '0:5.14.0-427.el9', 'x86_64'),
    ('kernel-modules-extra', '0:5.14.0-427.el9', 'x86_64'),
    ('kernelshark', '0:2.2-1.el9', 'x86_64'),
    ('linux-image-6.1.0-18-amd64', '6.1.76-1', 'amd64'),
    ('linux-headers-6.1.0-18-common', '6.1.76-1', 'all'),
    ('linux-libc-dev', '6.1.76-1', 'amd64'),
    ('openssl', '1:3.0.7-27.el9', 'x86_64'),
    ('openssl-libs', '1:3.0.7-27.el9', 'x86_64'),
    ('python3', '0:3.9.18-3.el9', 'x86_64'),
    ('python3-pip', '0:21.2.3-8.el9', 'noarch'),
    ('xrootd', '1:5.6.9-1.el9', 'x86_64'),
    ('xrootd-server', '1:5.6.9-1.el9', 'x86_64'),
]
NAMES = [p[0] for p in PACKAGES]
INV_HEADERS = {'arch': 'x86_64', 'cpu': 'AMD EPYC', 'host': 'h', 'kernel': '5.14.0-427.el9.x86_64',
               'packager': 'rpm', 'system': 'Rocky 9', 'version': '1'}


def _names(filters):
    headers, packages, counts = filters.apply(INV_HEADERS, PACKAGES)
    assert counts == {'found': len(PACKAGES), 'sent': len(packages), 'filtered': len(PACKAGES) - len(packages)}
    return [p[0] for p in packages]


def test_no_filter_sends_everything_unchanged():
    headers, packages, counts = Filters().apply(INV_HEADERS, PACKAGES)
    assert headers == INV_HEADERS and packages == PACKAGES
    assert counts == {'found': 14, 'sent': 14, 'filtered': 0}


def test_globs_match_the_whole_name_case_sensitively():
    assert _names(Filters(include=['openssl*', 'xrootd'])) == ['openssl', 'openssl-libs', 'xrootd']
    assert _names(Filters(include=['*ssl'])) == ['openssl']     # not openssl-libs
    assert _names(Filters(include=['networkmanager'])) == []
    assert _names(Filters(include=['python3-[a-z]ip'])) == ['python3-pip']


def test_regex_patterns_are_searched_anywhere_in_the_name():
    assert _names(Filters(include=['re:ssl'])) == ['openssl', 'openssl-libs']
    assert _names(Filters(include=['re:^xrootd$'])) == ['xrootd']
    assert _names(Filters(include=['re:(?i)network'])) == ['NetworkManager']


def test_exclude_wins_over_include():
    assert _names(Filters(include=['openssl*', 're:^xrootd'], exclude=['*-libs', 're:server'])) == [
        'openssl', 'xrootd']
    assert _names(Filters(exclude=['re:.'])) == []


def test_kernel_false_drops_the_kernel_header_and_packages():
    f = Filters(kernel=False)
    headers, packages, counts = f.apply(INV_HEADERS, PACKAGES)
    assert 'kernel' not in headers and headers['host'] == 'h'
    assert [p[0] for p in packages] == ['NetworkManager', 'kernelshark', 'linux-libc-dev', 'openssl', 'openssl-libs',
                                        'python3', 'python3-pip', 'xrootd', 'xrootd-server']
    assert counts == {'found': 14, 'sent': 9, 'filtered': 5}
    assert INV_HEADERS['kernel']      # the input is not changed


@pytest.mark.parametrize('name', ['kernel', 'kernel-core', 'kernel-modules', 'kernel-modules-extra', 'kernel-uek',
                                  'kernel-uek-core', 'kernel-rt-core', 'kernel-devel', 'kernel-headers', 'kernel-PAE',
                                  'kernel-default', 'linux-image', 'linux-image-amd64', 'linux-image-6.1.0-18-amd64',
                                  'linux-headers-6.1.0-18-common', 'linux-modules-6.8.0-31-generic'])
def test_kernel_packages(name):
    assert is_kernel_package(name)


@pytest.mark.parametrize('name', ['kernelshark', 'linux-libc-dev', 'linux-base', 'python3-kernel', 'Kernel'])
def test_not_kernel_packages(name):
    assert not is_kernel_package(name)


def test_kernel_package_names_are_one_constant_with_pakiti_servers_names():
    for name in ('kernel', 'kernel-devel', 'kernel-smp', 'kernel-xenU', 'kernel-largesmp', 'kernel-hugemem',
                 'linux-image', 'kernel-default'):
        assert name in KERNEL_PACKAGES


def test_headers_drop():
    headers, packages, counts = Filters(headers=['cpu', 'system']).apply(INV_HEADERS, PACKAGES)
    assert sorted(headers) == ['arch', 'host', 'kernel', 'packager', 'version']
    assert counts['filtered'] == 0


@pytest.mark.parametrize('name', ['host', 'version'])
def test_headers_refuses_the_required_ones(name):
    with pytest.raises(VaporError, match="The header '%s' cannot be dropped: the collector needs it." % name):
        Filters(headers=['cpu', name])


def test_headers_refuses_unknown_names_listing_the_known_ones():
    with pytest.raises(VaporError) as exc:
        Filters(headers=['ip'])
    assert exc.value.msg == ("The header 'ip' is not one a report has; the known headers are arch, cpu, host, kernel, "
                             "packager, site, system, tag, version.")


@pytest.mark.parametrize('option', ['include', 'exclude'])
def test_a_pattern_that_does_not_compile(option):
    with pytest.raises(VaporError) as exc:
        Filters(**{option: ['ok*', 're:(']})
    assert exc.value.msg.startswith("The %s pattern 're:(' does not compile: missing )" % option)
    assert exc.value.msg.endswith('.')


def test_an_empty_pattern_is_refused():
    with pytest.raises(VaporError, match="The exclude pattern '' is not a non-empty string."):
        Filters(exclude=[''])


# -- versions --------------------------------------------------------------------------------------------------------


def test_versions_report_one_entry_per_distinct_version():
    packages = PACKAGES + [('xrootd', '1:5.7.0-1.el9', 'x86_64'), ('xrootd', '1:5.6.9-1.el9', 'i686'),
                           ('dcache', '0:9.2.11-1', 'noarch'), ('storm-backend', '1.11.22', 'amd64')]
    entries, missing = versions_report('se1.example.org', {
        'org.dcache.storage': 'dcache',
        'xrootd': 'xrootd',
        'SRM': 're:^storm-',
        'webdav': 'httpd',
        'ssl': ['openssl', 'openssl-libs'],
    }, packages)
    assert entries == [
        {'hostname': 'se1.example.org', 'service_type': 'SRM', 'version': '1.11.22'},
        {'hostname': 'se1.example.org', 'service_type': 'org.dcache.storage', 'version': '9.2.11-1'},
        {'hostname': 'se1.example.org', 'service_type': 'ssl', 'version': '1:3.0.7-27.el9'},
        {'hostname': 'se1.example.org', 'service_type': 'xrootd', 'version': '1:5.6.9-1.el9'},
        {'hostname': 'se1.example.org', 'service_type': 'xrootd', 'version': '1:5.7.0-1.el9'},
    ]
    assert missing == ['webdav']


def test_versions_epoch_handling():
    entries, missing = versions_report('h', {'a': 'a', 'b': 'b', 'c': 'c', 'd': 'd'}, [
        ('a', '0:1.0-1', 'x86_64'), ('b', '2:1.0-1', 'x86_64'), ('c', '1:2.3-4', 'amd64'), ('d', '10:1-1', 'noarch')])
    assert [e['version'] for e in entries] == ['1.0-1', '2:1.0-1', '1:2.3-4', '10:1-1']
    assert missing == []


def test_versions_refuses_a_bad_pattern_naming_the_service_type():
    with pytest.raises(VaporError, match=r"The products 'x' pattern 're:\[' does not compile"):
        versions_report('h', {'x': 're:['}, PACKAGES)


def test_format_versions():
    entries, dummy = versions_report('h', {'b': 'xrootd', 'a': 'python3'}, PACKAGES)
    assert format_versions(entries) == (
        b'[\n{"hostname": "h", "service_type": "a", "version": "3.9.18-3.el9"},\n'
        b'{"hostname": "h", "service_type": "b", "version": "1:5.6.9-1.el9"}\n]\n')
    assert format_versions([]) == b'[]\n'


# -- collect() with a stand-in runner ----------------------------------------------------------------------------------

RPM_OUT = (b'python3.11\t(none):3.11.7-1.el9\tx86_64\n'
           b'gpg-pubkey\t(none):fd431d51-4ae0493b\t(none)\n'
           b'python3\t(none):3.9.18-3.el9\tx86_64\n'
           b'bash\t(none):5.1.8-6.el9_1\tx86_64\n'
           b'python3-pip\t(none):21.2.3-8.el9\tnoarch\n'
           b'NetworkManager\t1:1.46.0-1.el9\tx86_64\n'
           b'gpg-pubkey-helper\t(none):1-1\tnoarch\n'
           b'caf\xe9\t0:1-1\tnoarch\n')
DPKG_OUT = (b'install ok installed=bash\t5.2.15-2+b7\tamd64\n'
            b'hold ok installed=held\t1.0-1\tamd64\n'
            b'deinstall ok config-files=removed\t2.0-1\tamd64\n'
            b'install ok installed=libc6\t2.36-9+deb12u4\tamd64\n'
            b'install ok installed=adduser\t3.134\tall\n')


class Runner(object):
    """A stand-in for run_tool: {name: (rc, stdout, stderr) or None}; every call is recorded."""

    def __init__(self, **tools):
        self.tools = dict(hostname=(0, b'wn1.example.org\n', b''))
        self.tools.update((k.replace('dpkg_query', 'dpkg-query'), v) for k, v in tools.items())
        self.calls = []

    def __call__(self, name, args):
        self.calls.append([name] + list(args))
        result = self.tools.get(name)
        return result(args) if callable(result) else result

    def called(self, name):
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'etc' / 'os-release').write_text(
        'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\nNAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\n'
        'VERSION_ID="9.3"\n# a comment\nHOME_URL="https://rockylinux.org/?a=b"\n')
    (tmp_path / 'proc' / 'cpuinfo').write_text(
        'processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\nflags\t\t: fpu\n\n'
        'processor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\nflags\t\t: fpu\n')
    return str(tmp_path)


def test_collect_rpm_wins_over_dpkg(root):
    run = Runner(rpm=(0, RPM_OUT, b''), dpkg_query=(0, DPKG_OUT, b''))
    inv = collect(run=run, root=root, site=' MY   SITE ', tag='MWR')
    uts = os.uname()
    assert inv.packager == 'rpm' and inv.skipped == [] and inv.warnings == []
    assert inv.headers == {'arch': uts.machine, 'cpu': 'Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz',
                           'host': 'wn1.example.org', 'kernel': uts.release, 'packager': 'rpm', 'site': 'MY SITE',
                           'system': 'Rocky Linux 9.3', 'tag': 'MWR', 'version': '1'}
    # byte order, as Perl's sort: upper case first, TAB < '-' < '.', undecodable bytes last
    assert inv.packages == [
        ('NetworkManager', '1:1.46.0-1.el9', 'x86_64'),
        ('bash', '0:5.1.8-6.el9_1', 'x86_64'),
        (b'caf\xe9'.decode('utf-8', 'surrogateescape'), '0:1-1', 'noarch'),
        ('gpg-pubkey-helper', '0:1-1', 'noarch'),
        ('python3', '0:3.9.18-3.el9', 'x86_64'),
        ('python3-pip', '0:21.2.3-8.el9', 'noarch'),
        ('python3.11', '0:3.11.7-1.el9', 'x86_64'),
    ]
    assert run.called('dpkg-query') == []
    assert run.called('rpm') == [['rpm', '-qa', '--nodigest', '--nosignature', '--queryformat',
                                  '%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{ARCH}\n']]
    assert run.called('hostname') == [['hostname', '--fqdn']]


def test_collect_rpm_empty_then_dpkg(root):
    run = Runner(rpm=(0, b'', b''), dpkg_query=(0, DPKG_OUT, b''))
    inv = collect(run=run, root=root)
    assert inv.packager == 'dpkg' and inv.headers['packager'] == 'dpkg'
    assert inv.skipped == ['rpm listed no installed package']
    assert inv.packages == [('adduser', '3.134', 'all'), ('bash', '5.2.15-2+b7', 'amd64'),
                            ('libc6', '2.36-9+deb12u4', 'amd64')]
    assert run.called('dpkg-query') == [['dpkg-query', '-W',
                                         '--showformat=${Status}=${Package}\t${Version}\t${Architecture}\n']]


def test_collect_only_gpg_pubkey_counts_as_empty(root):
    run = Runner(rpm=(0, b'gpg-pubkey\t(none):1-2\t(none)\n', b''), dpkg_query=(0, DPKG_OUT, b''))
    assert collect(run=run, root=root).packager == 'dpkg'


def test_collect_neither_names_every_manager_and_why(root):
    run = Runner(rpm=None, dpkg_query=(2, b'', b'dpkg-query: error: cannot access archive\n'), pkg=None)
    with pytest.raises(VaporError) as exc:
        collect(run=run, root=root)
    assert exc.value.msg == (
        'No package list for this host: rpm is not in /bin, /usr/bin, /sbin, /usr/sbin; dpkg-query exited with '
        'status 2 (dpkg-query: error: cannot access archive); pkg is not in /bin, /usr/bin, /sbin, /usr/sbin.')


def test_collect_forced_packager(root):
    run = Runner(rpm=(0, RPM_OUT, b''), dpkg_query=(0, DPKG_OUT, b''))
    assert collect(packager='dpkg', run=run, root=root).packager == 'dpkg'
    assert run.called('rpm') == []
    run = Runner(rpm=(0, b'', b''), dpkg_query=(0, DPKG_OUT, b''))
    with pytest.raises(VaporError, match='^No package list for this host: rpm listed no installed package.$'):
        collect(packager='rpm', run=run, root=root)
    with pytest.raises(VaporError, match="The packager 'yum' is not one of auto, rpm, dpkg, pkg."):
        collect(packager='yum', run=run, root=root)


def test_collect_database_paths(root, tmp_path):
    run = Runner(rpm=(0, RPM_OUT, b''), dpkg_query=(0, DPKG_OUT, b''))
    collect(packager='rpm', rpm_dbpath=str(tmp_path), run=run, root=root)
    collect(packager='dpkg', dpkg_admindir=str(tmp_path), run=run, root=root)
    assert run.called('rpm')[0][1:3] == ['--dbpath', str(tmp_path)]
    assert run.called('dpkg-query')[0][1:3] == ['--admindir', str(tmp_path)]
    with pytest.raises(VaporError, match='The RPM database directory /nonexistent does not exist.'):
        collect(rpm_dbpath='/nonexistent', run=run, root=root)


def test_collect_pkg(root):
    run = Runner(rpm=None, dpkg_query=None, pkg=(0, b'curl-8.4.0          Command line tool\npy39-pip-23.0 Tool\n', b''))
    inv = collect(run=run, root=root)
    arch = os.uname().machine
    assert inv.packager == 'pkg'
    assert inv.packages == [('curl', '8.4.0', arch), ('py39-pip', '23.0', arch)]


def test_collect_without_cpu_model_warns(root):
    with open(os.path.join(root, 'proc', 'cpuinfo'), 'w') as handle:
        handle.write('processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n')
    inv = collect(run=Runner(rpm=(0, RPM_OUT, b'')), root=root)
    assert 'cpu' not in inv.headers
    assert inv.warnings == ["The cpu header is left out: /proc/cpuinfo has no 'model name' line (pakiti-client 3.0.4 "
                            "would stop here)."]


def test_collect_several_cpu_models(root):
    with open(os.path.join(root, 'proc', 'cpuinfo'), 'w') as handle:
        handle.write('model name\t: Zeta  CPU\nmodel name\t: Alpha CPU\nmodel name\t: Zeta  CPU\n')
    inv = collect(run=Runner(rpm=(0, RPM_OUT, b'')), root=root)
    assert inv.headers['cpu'] == 'Alpha CPU Zeta CPU'


def test_collect_host_chain(root):
    def hostname(args):
        return (1, b'', b'') if args == ['--fqdn'] else (0, b' node1.local \n', b'')
    run = Runner(rpm=(0, RPM_OUT, b''), hostname=hostname)
    assert collect(run=run, root=root).headers['host'] == 'node1.local'
    run = Runner(rpm=(0, RPM_OUT, b''), hostname=(0, b'\n', b''))
    assert collect(run=run, root=root).headers['host'] == strip(os.uname().nodename)
    run = Runner(rpm=(0, RPM_OUT, b''))
    assert collect(run=run, root=root, host=' given\x01.example.org ').headers['host'] == 'given.example.org'
    assert run.called('hostname') == []


def test_collect_system_sources(root):
    run = Runner(rpm=(0, RPM_OUT, b''), lsb_release=lambda a: (0, b'Distributor ID:\tDebian\n' if a == ['-i']
                                                                  else b'Release:\t12\n', b''))
    etc = os.path.join(root, 'etc')
    with open(os.path.join(etc, 'redhat-release'), 'w') as handle:
        handle.write('Rocky Linux release 9.3 (Blue Onyx)\n')
    assert collect(run=run, root=root).headers['system'] == 'Rocky Linux release 9.3 (Blue Onyx)'
    os.remove(os.path.join(etc, 'redhat-release'))
    with open(os.path.join(etc, 'os-release'), 'w') as handle:
        handle.write('NAME="Debian GNU/Linux"\nID=debian\n')        # testing/sid: no VERSION_ID
    assert collect(run=run, root=root).headers['system'] == 'Debian GNU/Linux'
    os.remove(os.path.join(etc, 'os-release'))
    with open(os.path.join(etc, 'SuSE-release'), 'w') as handle:
        handle.write('# comment\nSUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\n')
    assert collect(run=run, root=root).headers['system'] == 'SUSE Linux Enterprise Server 11 (x86_64)'
    os.remove(os.path.join(etc, 'SuSE-release'))
    assert collect(run=run, root=root).headers['system'] == 'Debian 12'
    run.tools['lsb_release'] = None
    with pytest.raises(VaporError, match='^The operating system of this host is unknown: there is no '):
        collect(run=run, root=root)


def test_collect_empty_release_file(root):
    with open(os.path.join(root, 'etc', 'fedora-release'), 'w') as handle:
        handle.write(' \n')
    with pytest.raises(VaporError, match='^The release file /etc/fedora-release is empty'):
        collect(run=Runner(rpm=(0, RPM_OUT, b'')), root=root)


def test_collect_report_bytes(root):
    run = Runner(rpm=(0, b'b\t(none):1-1\tx86_64\na\t2:1-1\tnoarch\n', b''))
    inv = collect(run=run, root=root, host='h')
    uts = os.uname()
    assert format_report(inv.headers, inv.packages) == (
        '#\narch: %s\ncpu: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\nhost: h\nkernel: %s\npackager: rpm\n'
        'system: Rocky Linux 9.3\nversion: 1\n#\na\t2:1-1\tnoarch\nb\t0:1-1\tx86_64\n#\n'
        % (uts.machine, uts.release)).encode()


def test_rpm_and_dpkg_line_rules():
    assert collect_mod.rpm_lines(b'a\t(none):1-1\tx86_64\ngpg-pubkey\t(none):x-y\t(none)\nb\t0:1-1\tnoarch') == [
        b'a\t0:1-1\tx86_64\n', b'b\t0:1-1\tnoarch\n']
    assert collect_mod.dpkg_lines(DPKG_OUT) == [b'bash\t5.2.15-2+b7\tamd64\n', b'libc6\t2.36-9+deb12u4\tamd64\n',
                                                b'adduser\t3.134\tall\n']


# -- the string-method parsers against the regular expressions that say what they do --------------------------------
# strip(), dpkg_lines(), rpm_lines() and the field split of collect() use string methods (fast, and no regular
# expression to load for a scheduled run); each is checked here against the expression it must equal.

_TEXT = st.text(alphabet=st.sampled_from(list(' \t\n\x0b\f\r\x00\x01\x1c\x7f\x85\xa0=:-aZ0\u00e9\u2028')), max_size=40)


def _strip_by_regex(value):
    value = _re.sub(r'\A[ \t\n\x0b\f\r]+', '', value)
    value = _re.sub(r'[ \t\n\x0b\f\r]+\Z', '', value)
    value = _re.sub(r'[ \t\n\x0b\f\r]+', ' ', value)
    return _re.sub(r'[^\x20-\x7e]+', '', value)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_strip_equals_the_regular_expressions(value):
    assert strip(value) == _strip_by_regex(value)


_LINES_TEXT = st.lists(st.sampled_from([
    b'install ok installed=bash\t5.2-1\tamd64', b'install ok installed=a=b\t1\tall', b'hold ok installed=x\t1\tall',
    b'install ok installed', b'install ok installedX=y\t1\tall', b'deinstall ok config-files=z\t1\tamd64', b'',
    b'gpg-pubkey\t0:abc-1\t(none)', b'gpg-pubkeyX\t1\tx', b'kernel\t(none):5.14-1\tx86_64', b'a\tb', b'a\tb\tc\td',
    b'\t\t', b'n\t(none):1\t(none):x']), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_LINES_TEXT, st.booleans())
def test_package_line_parsers_equal_the_regular_expressions(lines, final_lf):
    out = b'\n'.join(lines) + (b'\n' if final_lf and lines else b'')
    terminated = out if not out or out.endswith(b'\n') else out + b'\n'
    assert collect_mod.dpkg_lines(out) == _re.findall(b'^install ok installed[^=\n]*=([^\n]*\n)', terminated, _re.M)
    rpm = terminated.replace(b'\t(none):', b'\t0:')
    assert collect_mod.rpm_lines(out) == _re.findall(b'[^\n]*\n', _re.sub(b'^gpg-pubkey\t[^\n]*\n', b'', rpm,
                                                                          flags=_re.M))
    warnings = []
    parsed = collect_mod._to_packages(list(collect_mod.rpm_lines(out)), 'rpm', warnings)
    text = b''.join(sorted(collect_mod.rpm_lines(out))).decode('utf-8', 'surrogateescape')
    assert parsed == _re.findall('^([^\t\n]*)\t([^\t\n]*)\t([^\n]*)\n', text, _re.M)
    assert bool(warnings) == (len(parsed) != len(collect_mod.rpm_lines(out)))


# -- spawn(): the tool runner without the subprocess module ---------------------------------------------------------


def test_spawn_reads_both_streams_fully_without_stalling():
    """More than a pipe's buffer on stdout and stderr at once: a reader of one stream only would stall the tool."""
    script = ("import os, sys\n"
              "for i in range(40):\n"
              "    os.write(1, b'o' * 8192)\n"
              "    os.write(2, b'e' * 8192)\n"
              "sys.exit(3)\n")
    import sys
    rc, out, err = collect_mod.spawn([sys.executable, '-c', script], dict(os.environ))
    assert (rc, len(out), len(err)) == (3, 40 * 8192, 40 * 8192)
    assert set(out) == {ord('o')} and set(err) == {ord('e')}


def test_spawn_gives_stdin_as_dev_null_the_environment_and_signals():
    rc, out, err = collect_mod.spawn(['/bin/sh', '-c', 'cat; printf "%s" "$LC_ALL"'], {'LC_ALL': 'C', 'PATH': '/bin:/usr/bin'})
    assert (rc, out, err) == (0, b'C', b'')
    rc, out, err = collect_mod.spawn(['/bin/sh', '-c', 'kill -TERM $$'], {'PATH': '/bin:/usr/bin'})
    assert rc == -15
    with pytest.raises(OSError):
        collect_mod.spawn(['/nonexistent/tool'], {})


def test_run_tool_names_a_tool_that_cannot_start(monkeypatch, tmp_path):
    tool = tmp_path / 'dpkg-query'
    tool.write_bytes(b'\x7fELF not really\n')
    tool.chmod(0o755)
    monkeypatch.setattr(collect_mod, 'TOOL_DIRS', (str(tmp_path),))
    rc, out, err = collect_mod.run_tool('dpkg-query', ['-W'])
    assert rc == 127 and out == b'' and b'Exec format error' in err


# -- spawn(): hostile callers and tools --------------------------------------------------------------------------------

_COLLECTIONS_ROOT = collect_mod.__file__
for _level in range(7):       # .../collections/ansible_collections/vapor/ops/plugins/module_utils/_pakiti/collect.py
    _COLLECTIONS_ROOT = os.path.dirname(_COLLECTIONS_ROOT)

# A child Python that closes some of fds 0, 1 and 2 (as a cron job may run), then calls spawn() and writes what it
# got, and the file actions it gave posix_spawn, to the file named in argv[2].
_CLOSED_FDS_CHILD = r'''
import os, sys
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import collect
actions = []
real_spawn = os.posix_spawn
def recording_spawn(path, argv, env, file_actions=(), **kwargs):
    actions.extend(tuple(action) for action in file_actions)
    return real_spawn(path, argv, env, file_actions=file_actions, **kwargs)
os.posix_spawn = recording_spawn
for fd in sys.argv[1].split(','):
    os.close(int(fd))
result = collect.spawn(['/bin/sh', '-c', 'echo out; echo err >&2; cat; exit 4'], {'PATH': '/bin:/usr/bin'})
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, repr((result, actions)).encode())
'''


@pytest.mark.parametrize('closed', ['0', '1', '2', '0,1', '0,2', '1,2', '0,1,2'])
def test_spawn_works_for_a_caller_with_standard_fds_closed(tmp_path, closed):
    """A pipe end can get fd 0, 1 or 2. The tool still gets its stdout and stderr on the pipes and /dev/null as
    stdin, and no file action dup2()s a descriptor onto itself: before glibc 2.29 (EL8, Amazon Linux 2) that leaves
    the pipe's close-on-exec flag set, so the tool would run with its stdout closed and the package list be empty."""
    import ast
    import sys
    out_file = tmp_path / 'result'
    env = dict(os.environ, PYTHONPATH=_COLLECTIONS_ROOT)
    with open(os.devnull, 'rb') as devnull:
        proc = subprocess.run([sys.executable, '-c', _CLOSED_FDS_CHILD, closed, str(out_file)], stdin=devnull,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result, actions = ast.literal_eval(out_file.read_text())
    assert result == (4, b'out\n', b'err\n')
    assert [action for action in actions if action[0] == os.POSIX_SPAWN_DUP2 and action[1] == action[2]] == []


def test_spawn_refuses_a_directory_and_a_file_that_is_not_executable(tmp_path):
    plain = tmp_path / 'tool'
    plain.write_bytes(b'#!/bin/sh\necho hi\n')
    plain.chmod(0o644)
    for path in (str(tmp_path), str(plain)):
        with pytest.raises(PermissionError):
            collect_mod.spawn([path], {})


def test_spawn_leaks_no_descriptor_and_no_child(monkeypatch):
    def open_fds():
        return len(os.listdir('/proc/self/fd'))

    pids = _spawned_pids(monkeypatch)
    before = open_fds()
    for dummy in range(100):
        assert collect_mod.spawn(['/bin/sh', '-c', 'echo x; echo y >&2'], {}) == (0, b'x\n', b'y\n')
        with pytest.raises(OSError):
            collect_mod.spawn(['/nonexistent/tool'], {})
    assert open_fds() == before
    assert len(pids) == 100
    for pid in pids:                              # every child reaped: none left to wait for
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_spawn_survives_a_signal_handler_in_the_caller():
    """A signal that arrives while spawn() waits on the pipes (EINTR) runs the handler and the reading goes on."""
    import signal
    caught = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: caught.append(signum))
    try:
        rc, out, err = collect_mod.spawn(
            ['/bin/sh', '-c', 'echo before; kill -USR1 %d; sleep 0.2; echo after; echo e >&2' % os.getpid()], {})
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert (rc, out, err) == (0, b'before\nafter\n', b'e\n')
    assert caught == [signal.SIGUSR1]


class _Interrupt(BaseException):
    pass


def _spawned_pids(monkeypatch):
    pids = []
    real_spawn = os.posix_spawn

    def recording_spawn(*args, **kwargs):
        pid = real_spawn(*args, **kwargs)
        pids.append(pid)
        return pid
    monkeypatch.setattr(os, 'posix_spawn', recording_spawn)
    return pids


def test_spawn_reaps_the_tool_when_interrupted_while_reading(monkeypatch):
    """A KeyboardInterrupt-like exception from a signal handler while the tool runs: the tool is killed and reaped
    (no zombie), the exception reaches the caller, no descriptor is left open."""
    import signal
    pids = _spawned_pids(monkeypatch)

    def interrupt(signum, frame):
        if pids:                                  # the tool is running: spawn() is in its reading loop
            raise _Interrupt()
    before = len(os.listdir('/proc/self/fd'))
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    try:
        with pytest.raises(_Interrupt):
            collect_mod.spawn(['/bin/sh', '-c', 'exec sleep 60'], {})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert len(pids) == 1
    with pytest.raises(ChildProcessError):        # already reaped
        os.waitpid(pids[0], os.WNOHANG)
    assert len(os.listdir('/proc/self/fd')) == before


def test_spawn_reaps_the_tool_when_interrupted_before_reading(monkeypatch):
    """The same exception between the start of the tool and the reading loop (here from select.poll())."""
    import select
    pids = _spawned_pids(monkeypatch)

    def broken_poll():
        raise _Interrupt()
    monkeypatch.setattr(select, 'poll', broken_poll)
    with pytest.raises(_Interrupt):
        collect_mod.spawn(['/bin/sh', '-c', 'exec sleep 60'], {})
    assert len(pids) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)
