# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The clients on the shared pieces: the XRootD client environment, the XRootD URL on the one URL helper, the
XRootD listing and gfal2 calls on the one retry policy (same delays, same number of tries, same errors)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._clients import gfal
from ansible_collections.vapor.ops.plugins.module_utils._common import retry
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._storage import xrootd as scan_xrootd


def test_xrootd_environment_can_be_set_again_by_a_later_run_in_the_process(monkeypatch):
    from ansible_collections.vapor.ops.plugins.module_utils._clients import xrootd as _common  # the module under its old test name
    for name in ('XRD_CONNECTIONWINDOW', 'XRD_CONNECTIONRETRY', 'XRD_REQUESTTIMEOUT', 'XRD_STREAMTIMEOUT',
                 'XRD_TIMEOUTRESOLUTION'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_common, '_XRD_OURS', {})
    _common.xrootd_environment(60)
    assert os.environ['XRD_CONNECTIONWINDOW'] == '60' and not _common.xrootd_site_set('XRD_CONNECTIONWINDOW')
    _common.xrootd_environment(5)          # a later run of this process with a shorter timeout
    assert os.environ['XRD_CONNECTIONWINDOW'] == '5'
    monkeypatch.setenv('XRD_CONNECTIONWINDOW', '30')     # what the site set is kept
    assert _common.xrootd_site_set('XRD_CONNECTIONWINDOW')
    _common.xrootd_environment(5)
    assert os.environ['XRD_CONNECTIONWINDOW'] == '30'


@pytest.mark.parametrize('url, parsed', [
    ('root://se.example.org:1094', ('root://se.example.org:1094', None)),
    ('root://se.example.org:1094/', ('root://se.example.org:1094', None)),
    ('root://se.example.org:1094//store/mc/', ('root://se.example.org:1094', '/store/mc')),
    ('xroots://se//a//b', ('xroots://se', '/a/b')),
    ('roots://u@se:1/x', ('roots://u@se:1', '/x')),
])
def test_parse_url(url, parsed):
    assert scan_xrootd.parse_url(url) == parsed


def test_parse_url_takes_a_url_with_one_line_end_as_before_the_refactor():
    # a YAML folded scalar (storage_dump_url: >) ends the URL with a line end; the pre-refactor parser
    # (_scan_xrootd._URL_RE, whose '$' matches before a final newline) read it as the URL without it, so a
    # scheduled dump configured so must not start failing
    assert scan_xrootd.parse_url('root://se.example.org:1094//store/mc\n') == ('root://se.example.org:1094',
                                                                               '/store/mc')
    assert scan_xrootd.parse_url('root://se.example.org:1094/\n') == ('root://se.example.org:1094', None)


@pytest.mark.parametrize('url', [None, '', 'se:1094//store', 'http://se//store', 'ROOT://se//a', 'root:///store',
                                 'root://', 'root://se//a\nb'])
def test_parse_url_refuses_with_the_same_sentence(url):
    with pytest.raises(VaporError) as info:
        scan_xrootd.parse_url(url)
    assert info.value.msg == "The XRootD URL '%s' is not of the form root://host[:port][//path]." % url


class _Status(object):
    def __init__(self, ok, errno_=0, message=''):
        self.ok, self.errno, self.message = ok, errno_, message


class _FlakyFS(object):
    """A FileSystem whose dirlist fails with a transient error ``fails`` times, then lists one file."""

    def __init__(self, fails, errno_=3005):
        self.fails, self.errno, self.calls = fails, errno_, 0

    def dirlist(self, path, flags, timeout=None):
        self.calls += 1
        if self.calls <= self.fails:
            return _Status(False, self.errno, 'server busy.'), None

        class Stat(object):
            size, modtime, flags = 7, 1700000000, 0

        class Entry(object):
            name, statinfo = 'f', Stat()
        return _Status(True), [Entry()]


def _lister(fs, retries, backoff):
    pytest.importorskip('XRootD')
    scan_xrootd.require_binding()       # the flags the listing reads (XRootDLister() loads it the same way)
    lister = scan_xrootd.XRootDLister.__new__(scan_xrootd.XRootDLister)
    lister.server, lister.timeout, lister.retries, lister.backoff = 'root://se', 5, retries, backoff
    lister.fs = lambda: fs
    lister._raw = lambda: None
    return lister


def test_xrootd_listing_retries_with_the_one_policy(monkeypatch):
    slept = []
    policy = retry.attempts
    monkeypatch.setattr(scan_xrootd, 'attempts', lambda r, b: policy(r, b, sleep=slept.append))
    fs = _FlakyFS(fails=2)
    files, subdirs = _lister(fs, retries=3, backoff=4.0).listdir('/d')
    assert files == [('/d/f', 7, 1700000000, None)] and subdirs == [] and fs.calls == 3
    assert slept == [4.0, 8.0]
    # every try fails: retries + 1 tries, the delays of the policy (capped), the same sentence
    slept[:] = []
    fs = _FlakyFS(fails=99)
    with pytest.raises(VaporError) as info:
        _lister(fs, retries=5, backoff=4.0).listdir('/d')
    assert fs.calls == 6 and slept == [4.0, 8.0, 16.0, 30.0, 30.0]
    assert info.value.msg == "The XRootD directory '/d' on root://se could not be listed after 6 attempts: server busy."
    # a directory that vanished is not retried
    fs = _FlakyFS(fails=99, errno_=3011)
    assert _lister(fs, retries=5, backoff=4.0).listdir('/d') is None and fs.calls == 1


@pytest.mark.skipif(not gfal.HAS_GFAL2, reason='needs python3-gfal2')
def test_gfal_call_retries_transient_errors_with_the_one_policy(monkeypatch):
    slept = []
    policy = retry.with_retries
    monkeypatch.setattr(gfal, 'with_retries', lambda call, r, b, t: policy(call, r, b, t, sleep=slept.append))
    storage = gfal.Storage.__new__(gfal.Storage)
    storage.retries, storage.backoff = 2, 1.0
    calls = []

    def busy(url, *args):
        calls.append((url,) + args)
        raise gfal.gfal2.GError('busy', errno.EAGAIN)
    with pytest.raises(gfal.gfal2.GError):
        storage._call('rename', 'root://se//a', busy, 'root://se//b')
    assert calls == [('root://se//a', 'root://se//b')] * 3 and slept == [1.0, 2.0]
    # a lasting error is raised at once
    calls[:] = []

    def gone(url, *args):
        calls.append(url)
        raise gfal.gfal2.GError('gone', errno.ENOENT)
    with pytest.raises(gfal.gfal2.GError):
        storage._call('stat', 'root://se//a', gone)
    assert calls == ['root://se//a']


def test_gfal_join_url_keeps_its_sentence():
    assert gfal.join_url('root://se:1094//data/vo/', '/a/b') == 'root://se:1094//data/vo/a/b'
    with pytest.raises(VaporError, match="No storage URL prefix is set, so the dump path '/a' cannot be turned"):
        gfal.join_url('', '/a')


def test_no_job_loads_the_xrootd_binding_on_import():
    """Loading the binding starts the XRootD client, which reads the XRD_* variables once: a job that imported it
    before xrootd_environment() ran would leave gfal2's root:// plugin unbounded (a dead endpoint held a stat for
    minutes). So nothing loads it until an XRootD listing starts."""
    import subprocess
    import sys
    here = __file__
    root = here[:here.index('/ansible_collections/')]
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import ansible_collections.vapor.ops.plugins.module_utils._cleanup.dark\n"
            "import ansible_collections.vapor.ops.plugins.module_utils._catalog.cleanup\n"
            "import ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump\n"
            "import ansible_collections.vapor.ops.plugins.module_utils._storage.scanners\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'XRootD'))\n" % root)
    out = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]'
