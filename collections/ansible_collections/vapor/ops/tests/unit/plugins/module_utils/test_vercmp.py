# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rpm's and dpkg's version comparison (_pakiti/vercmp.py), on tables of cases.

Every case of the tables below is also checked against the real tools by tests/test_vercmp_real.py (rpm's
rpm.vercmp through `rpm --eval`, `dpkg --compare-versions`, and rpm's dependency resolution for a version without
a release), so the tables hold what rpm and dpkg do, not what we think they do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import vercmp

# (a, b, rpmvercmp(a, b)): single version or release strings (no epoch, no '-')
RPM_CASES = [
    ('1.0', '1.0', 0),
    ('1.0', '2.0', -1),
    ('2.0', '1.0', 1),
    ('2.0.1', '2.0.1', 0),
    ('2.0', '2.0.1', -1),
    ('2.0.1', '2.0', 1),
    ('2.0.1a', '2.0.1a', 0),
    ('2.0.1a', '2.0.1', 1),
    ('2.0.1', '2.0.1a', -1),
    ('5.5p1', '5.5p1', 0),
    ('5.5p1', '5.5p2', -1),
    ('5.5p10', '5.5p1', 1),
    ('10xyz', '10.1xyz', -1),
    ('xyz10', 'xyz10', 0),
    ('xyz10', 'xyz10.1', -1),
    ('xyz.4', 'xyz.4', 0),
    ('xyz.4', '8', -1),
    ('8', 'xyz.4', 1),
    ('5.5p2', '5.6p1', -1),
    ('5.6p1', '6.5p1', -1),
    ('6.0.rc1', '6.0', 1),
    ('10b2', '10a1', 1),
    ('10a2', '10b2', -1),
    ('1.0aa', '1.0a', 1),
    ('10.0001', '10.1', 0),
    ('10.0001', '10.0039', -1),
    ('4.999.9', '5.0', -1),
    ('20101121', '20101122', -1),
    ('2_0', '2_0', 0),
    ('2.0', '2_0', 0),
    ('a', 'a', 0),
    ('a+', 'a+', 0),
    ('a+', 'a_', 0),
    ('+a', '+a', 0),
    ('+a', '_a', 0),
    ('+_', '_+', 0),
    ('1.0~rc1', '1.0~rc1', 0),
    ('1.0~rc1', '1.0', -1),
    ('1.0', '1.0~rc1', 1),
    ('1.0~rc1', '1.0~rc2', -1),
    ('1.0~rc1~git123', '1.0~rc1~git123', 0),
    ('1.0~rc1~git123', '1.0~rc1', -1),
    ('1.0~rc1', '1.0~rc1~git123', 1),
    ('1.0~rc1', '1.0arc1', -1),
    ('1.0^', '1.0^', 0),
    ('1.0^', '1.0', 1),
    ('1.0', '1.0^', -1),
    ('1.0^git1', '1.0^git1', 0),
    ('1.0^git1', '1.0', 1),
    ('1.0', '1.0^git1', -1),
    ('1.0^git1', '1.0^git2', -1),
    ('1.0^git1', '1.01', -1),
    ('1.0^20160101', '1.0.1', -1),
    ('1.0^20160102', '1.0^20160101^git1', 1),
    ('1.0~rc1^git1', '1.0~rc1', 1),
    ('1.0~rc1^git1', '1.0', -1),
    ('1.0^git1~pre', '1.0^git1', -1),
    ('1.0^git1', '1.0^git1~pre', 1),
    ('1.0^git1~pre', '1.0', 1),
    ('1.0.', '1.0', 0),
    ('2.0.1', '2.0.1.', 0),
    ('1.0', '1.0.0', -1),
    ('1.01', '1.1', 0),
    ('1.001', '1.1', 0),
    ('1.010', '1.10', 0),
    ('0001', '1', 0),
    ('a1', '1a', -1),
    ('1a', '1.a', 0),
    ('1', 'a', 1),
    ('alpha', 'beta', -1),
    ('Beta', 'alpha', -1),
    ('1.0a', '1.0b', -1),
    ('1.0.a', '1.0.1', -1),
    ('1.2.3', '1.2.3.4', -1),
    ('1.10', '1.9', 1),
    ('9', '10', -1),
    ('123456789012345678901234567890', '123456789012345678901234567891', -1),
    ('1.0{x}', '1.0.x', 0),
    ('el9', 'el10', -1),
    ('1.el9', '1.el8', 1),
    ('1.el9_2', '1.el9', 1),
    ('3.fc38', '3.fc39', -1),
]

# (a, b, rpm_evr_compare(a, b)): whole [E:]V[-R] strings, both with a release or both without
RPM_EVR_CASES = [
    ('1:1.0-1', '2.0-1', 1),
    ('0:1.0-1', '1.0-1', 0),
    ('1.0-1', '1.0-2', -1),
    ('1.0-10', '1.0-9', 1),
    ('1.0-1.el9', '1.0-1.el9_1', -1),
    ('2:0.1-1', '1:9.9-9', 1),
    ('1.0-1', '1.0.1-0', -1),
    ('10:1-1', '9:2-2', 1),
    ('00:1-1', '0:1-1', 0),
    ('1.0~rc1-1', '1.0-1', -1),
    ('1.0^git1-1', '1.0-2', 1),
    ('1.0-1~beta', '1.0-1', -1),
    ('0:1.0', '1.0', 0),
    ('1:1.0', '1.0', 1),
    ('2.3.1-4.el9', '2.3.1-4.el9', 0),
    ('2.3.1-4.el9', '2.3.1-4.el9_3', -1),
    ('3.10.2-1.fc40', '3.9.18-1.fc40', 1),
]

# (installed, required, rpm_evr_compare(installed, required)) where one side has no release: rpm's dependency
# resolution decides these (the release is not compared), so they are checked against `rpm -i --test`
RPM_EVR_NO_RELEASE_CASES = [
    ('2.3.1-4.el9', '2.3.1', 0),
    ('2.3.1-4.el9', '0:2.3.1', 0),
    ('2.3.1-4.el9', '1:2.3.1', -1),
    ('2.3.1-4.el9', '2.3', 1),
    ('2.3.1-4.el9', '2.3.1.0', -1),
    ('2.3.1-4.el9', '2.3.1~rc1', 1),
    ('2.3.1-4.el9', '2.3.1^1', -1),
    ('2.3.1-4.el9', '2.3.2', -1),
    ('2.3.1-4.el9', '2.3.01', 0),
]
RPM_PROBE = ('vapor-probe', '2.3.1', '4.el9')     # the installed package of the cases above

# (a, b, dpkg --compare-versions): whole Debian versions
DPKG_CASES = [
    ('1.0', '1.0', 0),
    ('1.0', '1.1', -1),
    ('1.1', '1.0', 1),
    ('1.0', '1.0-0', 0),
    ('1.0-0', '1.0', 0),
    ('1.0-1', '1.0', 1),
    ('1.0', '1.0-1', -1),
    ('1:1.0', '2.0', 1),
    ('0:1.0', '1.0', 0),
    ('1:0.1', '0:9.9', 1),
    ('2:1.0', '10:1.0', -1),
    ('1.0~rc1', '1.0', -1),
    ('1.0~rc1', '1.0~rc2', -1),
    ('1.0~~', '1.0~', -1),
    ('1.0~~a', '1.0~~', 1),
    ('1.0~', '1.0', -1),
    ('1.0~a', '1.0~', 1),
    ('1.0a', '1.0', 1),
    ('1.0a', '1.0+', -1),
    ('1.0+', '1.0.', -1),
    ('1.0.', '1.0', 1),
    ('1.0+dfsg', '1.0', 1),
    ('1.0+dfsg-1', '1.0-1', 1),
    ('1.0-1', '1.0-1+b1', -1),
    ('1.0-1', '1.0-1.1', -1),
    ('1.0-1~bpo12+1', '1.0-1', -1),
    ('1.0-1ubuntu1', '1.0-1', 1),
    ('1.0-1ubuntu1', '1.0-2', -1),
    ('1.0-1+deb12u1', '1.0-1+deb12u2', -1),
    ('1.0-1+deb12u1', '1.0-1+deb11u9', 1),
    ('2.30-1', '2.4-1', 1),
    ('1.001', '1.1', 0),
    ('1.010', '1.10', 0),
    ('1.0.0', '1.0', 1),
    ('1.0', '1.00', 0),
    ('1.0.1', '1.0.1', 0),
    ('1a', '1b', -1),
    ('1A', '1a', -1),
    ('1Z', '1a', -1),
    ('1.a', '1a', 1),
    ('1-1', '1-1', 0),
    ('1:1-1', '1:1-1', 0),
    ('0:0-0', '0', 0),
    ('1-2-3', '1-2-3', 0),
    ('1-2-3', '1-2-4', -1),
    ('1-2-3', '1-3-1', -1),
    ('1:1:1', '1:1:2', -1),
    ('1.2.3~rc1-1', '1.2.3-0', -1),
    ('7.6p2-4', '7.6-0', 1),
    ('1.0.3-3', '1.0-1', 1),
    ('1.3', '1.2.2-2', 1),
    ('1.3', '1.2.2', 1),
    ('0-pre', '0-pre', 0),
    ('0-pre', '0-pree', -1),
    ('1.1.6r2-2', '1.1.6r-1', 1),
    ('2.6b2-1', '2.6b-2', 1),
    ('98.1p5-1', '98.1-pre2-b6-2', -1),
    ('0.4a6-2', '0.4-1', 1),
    ('1:3.0.5-2', '1:3.0.5.1', -1),
    ('10.3', '1:0.4', -1),
    ('1:1.25-4', '1:1.25-8', -1),
    ('0:1.18.36', '1.18.36', 0),
    ('1.18.36', '1.18.35', 1),
    ('0:1.18.36', '1.18.35', 1),
    ('9:1.18.36:5.4-20', '10:0.5.1-22', -1),
    ('9:1.18.36:5.4-20', '9:1.18.36:5.5-1', -1),
    ('9:1.18.36:5.4-20', '9:1.18.37:4.3-22', -1),
    ('1.18.36-0.17.35-18', '1.18.36-19', 1),
    ('1:1.2.13-3', '1:1.2.13-3.1', -1),
    ('2.0.7pre1-4', '2.0.7r-1', -1),
    ('0.2', '1.0-0', -1),
    ('1.0', '1.0-0+b1', -1),
    ('1.0', '1.0-0~', 1),
    ('1.0~', '1.0-0~', -1),
    ('1.2.3', '1.2.3+really1.2.2', -1),
    ('4.19.0-21', '4.19.0-21', 0),
    ('1.123456789012345678901234567890', '1.123456789012345678901234567891', -1),
]

# strings refused here; dpkg refuses DPKG_INVALID too (an error or a "bad syntax" warning: test_vercmp_real.py)
RPM_INVALID = ['', ' 1.0', '1.0 ', '1 .0', '1.0-1', '1:1.0', '1.0\n', u'1.0\u00e9', '1/0', '1,0', '1.0#1']
RPM_EVR_INVALID = ['', '1:', ':1.0', 'a:1.0', '1.0-', '-1', '1.0-1-2', '1:2:3', '1.0 -1', '1.0-1 ', '1.0-1.el9#',
                   u'2.0-1\u00e9']
DPKG_INVALID = ['1.0 x', 'a1.0', '1.0-', ':1.0', 'a:1.0', '1:', '1.0_1', '1.0-1_1', '99999999999:1', '1:a', '0:-1',
                '1.0-1:2', '~1', '1.0/1', u'1.0\u00e9']
# refused here although dpkg takes them: dpkg skips blanks around a version and reads '' as "no version"; a versions
# report never holds them
DPKG_REFUSED_HERE = ['', ' 1.0', '1.0 ', '1.0\t']


def test_the_tables_are_large_enough():
    assert len(RPM_CASES) >= 60 and len(DPKG_CASES) >= 60


@pytest.mark.parametrize('left, right, expected', RPM_CASES)
def test_rpm_vercmp(left, right, expected):
    assert vercmp.rpm_vercmp(left, right) == expected
    assert vercmp.rpm_vercmp(right, left) == -expected


@pytest.mark.parametrize('left, right, expected', RPM_CASES)
def test_rpm_evr_compare_of_versions_alone_is_rpm_vercmp(left, right, expected):
    assert vercmp.rpm_evr_compare(left, right) == expected
    assert vercmp.rpm_evr_compare('1:%s-1' % left, '1:%s-1' % right) == expected
    assert vercmp.rpm_evr_compare('1.0-%s' % left, '1.0-%s' % right) == expected


@pytest.mark.parametrize('left, right, expected', RPM_EVR_CASES + RPM_EVR_NO_RELEASE_CASES)
def test_rpm_evr_compare(left, right, expected):
    assert vercmp.rpm_evr_compare(left, right) == expected
    assert vercmp.rpm_evr_compare(right, left) == -expected
    assert vercmp.compare('rpm', left, right) == expected


def test_a_version_without_release_matches_every_release():
    for installed in ('2.3.1-1', '2.3.1-4.el9', '2.3.1-99.fc40', '0:2.3.1-1'):
        assert vercmp.rpm_evr_compare(installed, '2.3.1') == 0
    assert vercmp.rpm_evr_compare('2.3.1-1', '2.3.1-2') == -1


def test_rpm_split_evr():
    assert vercmp.rpm_split_evr('1.0') == (0, '1.0', None)
    assert vercmp.rpm_split_evr('3:1.0-2.el9') == (3, '1.0', '2.el9')
    assert vercmp.rpm_split_evr('007:1-1') == (7, '1', '1')


@pytest.mark.parametrize('left, right, expected', DPKG_CASES)
def test_dpkg_compare(left, right, expected):
    assert vercmp.dpkg_compare(left, right) == expected
    assert vercmp.dpkg_compare(right, left) == -expected
    assert vercmp.compare('dpkg', left, right) == expected


def test_dpkg_split():
    assert vercmp.dpkg_split('1.0') == (0, '1.0', '')
    assert vercmp.dpkg_split('2:1.0-1-3') == (2, '1.0-1', '3')
    assert vercmp.dpkg_split('1:1:1-0') == (1, '1:1', '0')


@pytest.mark.parametrize('bad', RPM_INVALID)
def test_rpm_vercmp_refuses_what_rpm_does_not_take(bad):
    with pytest.raises(VaporError) as exc:
        vercmp.rpm_vercmp(bad, '1.0')
    assert exc.value.msg.startswith("The rpm version %r is not valid: " % bad)
    assert exc.value.msg.endswith('.') and exc.value.msg.count('. ') == 0
    with pytest.raises(VaporError):
        vercmp.rpm_vercmp('1.0', bad)


@pytest.mark.parametrize('bad', RPM_EVR_INVALID)
def test_rpm_evr_compare_refuses_what_rpm_does_not_take(bad):
    with pytest.raises(VaporError) as exc:
        vercmp.rpm_evr_compare('1.0-1', bad)
    assert repr(bad) in exc.value.msg and exc.value.msg.endswith('.')
    assert vercmp.version_problem('rpm', bad)


@pytest.mark.parametrize('bad', DPKG_INVALID + DPKG_REFUSED_HERE)
def test_dpkg_compare_refuses_what_dpkg_does_not_take(bad):
    with pytest.raises(VaporError) as exc:
        vercmp.dpkg_compare(bad, '1.0')
    assert exc.value.msg.startswith("The dpkg version %r is not valid: " % bad)
    assert exc.value.msg.endswith('.')
    with pytest.raises(VaporError):
        vercmp.dpkg_compare('1.0', bad)
    assert vercmp.version_problem('dpkg', bad)


@pytest.mark.parametrize('value', [None, 1, 2.1, ['1.0'], b'1.0'])
def test_a_version_that_is_not_a_string_is_refused(value):
    for fn in (vercmp.rpm_vercmp, vercmp.rpm_evr_compare, vercmp.dpkg_compare):
        with pytest.raises(VaporError, match='it is not a string'):
            fn(value, '1.0')


def test_the_causes_name_what_is_wrong():
    assert vercmp.version_problem('dpkg', 'a1.0') == 'the upstream version does not start with a digit'
    assert vercmp.version_problem('dpkg', '1.0-') == 'the revision after the last hyphen is empty'
    assert vercmp.version_problem('dpkg', '99999999999:1') == 'the epoch is too big'
    assert vercmp.version_problem('rpm', 'x:1.0') == 'the epoch before the colon is not a number'
    assert vercmp.version_problem('rpm', '1.0-') == 'the release after the hyphen is empty'
    assert vercmp.version_problem('rpm', '1.0-1') is None
    assert vercmp.version_problem('dpkg', '1:1.0-1') is None


def test_an_unknown_scheme_is_refused():
    with pytest.raises(VaporError, match="The version scheme 'apk' is not one of rpm, dpkg."):
        vercmp.compare('apk', '1', '2')
    with pytest.raises(VaporError, match="The version scheme 'apk'"):
        vercmp.check_version('apk', '1')
