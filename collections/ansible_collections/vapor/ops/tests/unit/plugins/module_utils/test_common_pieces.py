# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The small common pieces every domain shares: the URL helper, the retry policy, text, the xattr checksum."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common import retry, urls
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import xattr_adler32


@pytest.mark.parametrize('url, parts', [
    ('root://se.example.org:1094//data/vo/f', ('root', 'se.example.org:1094', '//data/vo/f')),
    ('srm://SE:8446/srm/managerv2?SFN=/dpm/a', ('srm', 'SE:8446', '/srm/managerv2?SFN=/dpm/a')),
    ('file:///data/a\nb', ('file', '', '/data/a\nb')),
    ('davs://h', ('davs', 'h', '')),
    ('/data/no/scheme', None),
    ('', None),
    (None, None),
    ('1x://h/p', None),
])
def test_split_url(url, parts):
    assert urls.split_url(url) == parts


@pytest.mark.parametrize('authority, parts', [
    ('se:1094', ('se', 1094)), ('se', ('se', None)), ('se:', ('se', None)), ('u@se:8446', ('se', 8446)),
    ('[::1]:1094', ('::1', 1094)), ('[::1]', ('::1', None)), ('se:x', ('se:x', None)),
])
def test_split_authority(authority, parts):
    assert urls.split_authority(authority) == parts


def test_join_url_puts_one_slash():
    assert urls.join_url('root://se:1094//data/vo/', '/a/b') == 'root://se:1094//data/vo/a/b'
    assert urls.join_url('file:///data', 'a') == 'file:///data/a'


def test_retry_backs_off_exponentially_and_stops():
    slept = []
    calls = []

    def flaky():
        calls.append(1)
        raise OSError(errno.EAGAIN, 'busy')
    with pytest.raises(OSError, match='busy'):
        retry.with_retries(flaky, 5, 4.0, lambda e: e.errno == errno.EAGAIN, sleep=slept.append)
    assert len(calls) == 6
    assert slept == [4.0, 8.0, 16.0, 30.0, 30.0]


def test_retry_raises_a_lasting_error_at_once_and_returns_a_success():
    slept = []

    def lasting():
        raise OSError(errno.ENOENT, 'gone')
    with pytest.raises(OSError, match='gone'):
        retry.with_retries(lasting, 3, 1.0, lambda e: e.errno == errno.EAGAIN, sleep=slept.append)
    assert slept == []
    outcomes = iter([OSError(errno.EAGAIN, 'busy'), 'ok'])

    def second_time():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value
    assert retry.with_retries(second_time, 3, 0.5, lambda e: True, sleep=slept.append) == 'ok'
    assert slept == [0.5]
    assert list(retry.attempts(2, 1.0, sleep=slept.append)) == [0, 1, 2]


def test_to_text_and_xattr_checksum():
    assert to_text(b'caf\xc3\xa9') == u'caf\xe9'
    assert to_text(b'\xff').encode('utf-8', 'surrogateescape') == b'\xff'
    assert to_text(bytearray(b'a')) == 'a' and to_text(7) == 7 and to_text(None) is None
    assert xattr_adler32('{"checksum.adler32": "1A2B"}') == '00001a2b'
    for bad in (None, '', '{}', 'adler32 but not json', '["checksum.adler32"]', '{"checksum.adler32": "zz"}'):
        assert xattr_adler32(bad) is None
