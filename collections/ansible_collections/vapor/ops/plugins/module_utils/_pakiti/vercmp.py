# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Which of two package versions is newer, by the rules of the package manager that installed them:
#   rpm_vercmp(a, b)       rpm's comparison of one version (or one release) string,
#   rpm_evr_compare(a, b)  rpm's comparison of [EPOCH:]VERSION[-RELEASE],
#   dpkg_compare(a, b)     dpkg's comparison of [EPOCH:]UPSTREAM[-REVISION] (Debian policy 5.6.12).
# Each returns -1 (a is older), 0 (the same version) or 1 (a is newer). A string that the package manager would
# not take as a version raises VaporError naming it. Written from the documented rules; the tests check every
# rule against the real tools (rpm's rpm.vercmp and dpkg --compare-versions).
#
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

_DIGITS = frozenset('0123456789')
_LETTERS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')

# What rpm takes in a Version or Release tag: ASCII letters and digits and these (no '-', no ':'); used with
# fullmatch (a '$' would let a final line break through).
RPM_ALLOWED = re.compile(r'[A-Za-z0-9._+%{}~^]+')
# What dpkg takes in the upstream part (after the epoch) and in the revision.
_DPKG_UPSTREAM = re.compile(r'[0-9][A-Za-z0-9.+~:-]*')
_DPKG_REVISION = re.compile(r'[A-Za-z0-9.+~]+')
_EPOCH_MAX = 2147483647     # dpkg refuses a larger epoch


def _bad(scheme, version, cause):
    """The VaporError for an invalid version; its ``cause`` attribute is the sentence's end, for callers that name
    the version in a sentence of their own (version_problem)."""
    err = VaporError("The %s version %r is not valid: %s." % (scheme, version, cause))
    err.cause = cause
    return err


def _check_text(version, scheme):
    if not isinstance(version, str):
        raise _bad(scheme, version, 'it is not a string')
    if version == '':
        raise _bad(scheme, version, 'it is empty')


# -- rpm -----------------------------------------------------------------------------------------------------------

def _rpm_check(version):
    _check_text(version, 'rpm')
    if not RPM_ALLOWED.fullmatch(version):
        raise _bad('rpm', version, "it holds a character other than ASCII letters, digits and '._+%{}~^'")


def _rpm_segments_compare(a, b):
    """rpmvercmp on two checked strings.

    Both strings are walked together. Characters other than ASCII letters, digits, '~' and '^' only separate
    segments. A '~' sorts before anything, the end of the string included ('1.0~rc1' < '1.0'). A '^' sorts after
    the end of the string but before anything else ('1.0' < '1.0^git1' < '1.0.1'). Otherwise the next segment is
    the longest run of digits or of letters that starts there; a numeric segment against a letter segment is
    newer; numbers compare by value (leading zeros do not count), letters byte-wise. When one string runs out, the
    one with a segment left is newer; when both run out (whatever separators were left) they are equal.
    """
    if a == b:
        return 0
    i, j, la, lb = 0, 0, len(a), len(b)
    while i < la or j < lb:
        while i < la and a[i] not in _DIGITS and a[i] not in _LETTERS and a[i] not in '~^':
            i += 1
        while j < lb and b[j] not in _DIGITS and b[j] not in _LETTERS and b[j] not in '~^':
            j += 1
        ca = a[i] if i < la else ''
        cb = b[j] if j < lb else ''
        if ca == '~' or cb == '~':
            if ca != '~':
                return 1
            if cb != '~':
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == '^' or cb == '^':
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != '^':
                return 1
            if cb != '^':
                return -1
            i, j = i + 1, j + 1
            continue
        if not ca or not cb:
            break
        kind = _DIGITS if ca in _DIGITS else _LETTERS
        si, sj = i, j
        while i < la and a[i] in kind:
            i += 1
        while j < lb and b[j] in kind:
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            # b has the other kind of segment here: digits are newer than letters
            return 1 if kind is _DIGITS else -1
        if kind is _DIGITS:
            seg_a, seg_b = seg_a.lstrip('0'), seg_b.lstrip('0')
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def rpm_vercmp(a, b):
    """rpm's comparison of two version strings (or two release strings): -1, 0 or 1.

    Each must be a non-empty string of ASCII letters, digits and '._+%{}~^' (what rpm takes in a Version or
    Release tag); anything else raises VaporError naming the string. For whole [E:]V[-R] strings use
    rpm_evr_compare.
    """
    _rpm_check(a)
    _rpm_check(b)
    return _rpm_segments_compare(a, b)


def rpm_split_evr(evr):
    """(epoch as int, version, release or None) of an rpm '[EPOCH:]VERSION[-RELEASE]' string.

    The epoch is the digits before a ':' (none: 0); the release is what follows the '-'. A string with an empty or
    non-numeric epoch, an empty version or release, or characters rpm does not take, raises VaporError.
    """
    _check_text(evr, 'rpm')
    rest = evr
    epoch = 0
    if ':' in rest:
        head, rest = rest.split(':', 1)
        if not head or not all(c in _DIGITS for c in head):
            raise _bad('rpm', evr, 'the epoch before the colon is not a number')
        epoch = int(head)
    release = None
    if '-' in rest:
        rest, release = rest.rsplit('-', 1)
        if release == '':
            raise _bad('rpm', evr, 'the release after the hyphen is empty')
    if rest == '':
        raise _bad('rpm', evr, 'the version is empty')
    for part, what in ((rest, 'version'), (release, 'release')):
        if part is not None and not RPM_ALLOWED.fullmatch(part):
            raise _bad('rpm', evr, "the %s holds a character other than ASCII letters, digits and '._+%%{}~^'" % what)
    return epoch, rest, release


def rpm_evr_compare(a, b):
    """rpm's comparison of two '[EPOCH:]VERSION[-RELEASE]' strings: -1, 0 or 1.

    Epochs first (a missing epoch is 0), then versions with rpm_vercmp, then releases with rpm_vercmp, but only
    when both strings have a release: a version given without a release (a baseline that names '2.3.1') matches
    every release of that version, as rpm does when it compares a dependency without a release (rpm's Lua
    rpm.vercmp of two whole strings would put '2.3.1' before '2.3.1-4'; a baseline means the dependency's rule).
    """
    ea, va, ra = rpm_split_evr(a)
    eb, vb, rb = rpm_split_evr(b)
    if ea != eb:
        return 1 if ea > eb else -1
    rc = _rpm_segments_compare(va, vb)
    if rc == 0 and ra is not None and rb is not None:
        rc = _rpm_segments_compare(ra, rb)
    return rc


# -- dpkg ----------------------------------------------------------------------------------------------------------

def dpkg_split(version):
    """(epoch as int, upstream, revision) of a Debian version '[EPOCH:]UPSTREAM[-REVISION]'.

    The epoch is what precedes the first ':' (none: 0); the revision follows the last '-' (none: ''). Raises
    VaporError, naming the version, for what dpkg refuses or warns about: whitespace, an empty or non-numeric or
    too large epoch, nothing after the colon, an empty revision, an upstream part that does not start with a digit,
    characters outside letters, digits and '.+~-:' (the revision: '.+~').
    """
    _check_text(version, 'dpkg')
    epoch = 0
    rest = version
    if ':' in rest:
        head, rest = rest.split(':', 1)
        if not head:
            raise _bad('dpkg', version, 'the epoch before the colon is empty')
        if not all(c in _DIGITS for c in head):
            raise _bad('dpkg', version, 'the epoch before the colon is not a number')
        epoch = int(head)
        if epoch > _EPOCH_MAX:
            raise _bad('dpkg', version, 'the epoch is too big')
        if rest == '':
            raise _bad('dpkg', version, 'nothing follows the colon')
    revision = ''
    if '-' in rest:
        rest, revision = rest.rsplit('-', 1)
        if revision == '':
            raise _bad('dpkg', version, 'the revision after the last hyphen is empty')
    if rest == '':
        raise _bad('dpkg', version, 'the upstream version is empty')
    if rest[0] not in _DIGITS:
        raise _bad('dpkg', version, 'the upstream version does not start with a digit')
    if not _DPKG_UPSTREAM.fullmatch(rest):
        raise _bad('dpkg', version, "the upstream version holds a character other than ASCII letters, digits and '.+~-:'")
    if revision and not _DPKG_REVISION.fullmatch(revision):
        raise _bad('dpkg', version, "the revision holds a character other than ASCII letters, digits and '.+~'")
    return epoch, rest, revision


def _dpkg_order(c):
    """Weight of one character in the non-digit parts: '~' first (before the end, which weighs 0), then
    letters by their code, then everything else after all letters."""
    if c == '~':
        return -1
    if c == '':
        return 0
    if c in _LETTERS:
        return ord(c)
    return ord(c) + 256


def _dpkg_part_compare(a, b):
    """Debian policy's comparison of two upstream versions (or two revisions): alternately the leading non-digit
    parts, character by character with _dpkg_order, and the leading digit parts by their value (an empty part
    is 0), until a difference or the end of both."""
    i, j, la, lb = 0, 0, len(a), len(b)
    while i < la or j < lb:
        si, sj = i, j
        while i < la and a[i] not in _DIGITS:
            i += 1
        while j < lb and b[j] not in _DIGITS:
            j += 1
        text_a, text_b = a[si:i], b[sj:j]
        for k in range(max(len(text_a), len(text_b))):
            oa = _dpkg_order(text_a[k] if k < len(text_a) else '')
            ob = _dpkg_order(text_b[k] if k < len(text_b) else '')
            if oa != ob:
                return 1 if oa > ob else -1
        si, sj = i, j
        while i < la and a[i] in _DIGITS:
            i += 1
        while j < lb and b[j] in _DIGITS:
            j += 1
        na, nb = int(a[si:i] or '0'), int(b[sj:j] or '0')
        if na != nb:
            return 1 if na > nb else -1
    return 0


def dpkg_compare(a, b):
    """dpkg's comparison of two Debian versions: -1, 0 or 1 (as dpkg --compare-versions a lt/eq/gt b).

    The epochs compare as numbers, then the upstream versions, then the revisions (a missing revision is '' which
    compares equal to '0'), each with Debian policy's rule: '~' sorts before everything (even the end), letters
    before every other non-digit, digit runs by their value. Invalid versions raise VaporError (dpkg_split).
    """
    ea, ua, ra = dpkg_split(a)
    eb, ub, rb = dpkg_split(b)
    if ea != eb:
        return 1 if ea > eb else -1
    return _dpkg_part_compare(ua, ub) or _dpkg_part_compare(ra, rb)


# -- by scheme -----------------------------------------------------------------------------------------------------

SCHEMES = ('rpm', 'dpkg')


def check_version(scheme, version):
    """Raise VaporError when ``version`` is not a valid whole version of ``scheme`` ('rpm' or 'dpkg')."""
    if scheme == 'dpkg':
        dpkg_split(version)
    elif scheme == 'rpm':
        rpm_split_evr(version)
    else:
        raise VaporError("The version scheme %r is not one of %s." % (scheme, ', '.join(SCHEMES)))


def version_problem(scheme, version):
    """Why ``version`` is not a valid whole version of ``scheme`` (the end of a sentence, such as 'the upstream
    version does not start with a digit'), or None when it is valid."""
    try:
        check_version(scheme, version)
    except VaporError as exc:
        return getattr(exc, 'cause', None) or exc.msg
    return None


def compare(scheme, a, b):
    """-1, 0 or 1 comparing two whole versions by the rules of ``scheme``: rpm_evr_compare or dpkg_compare."""
    if scheme == 'dpkg':
        return dpkg_compare(a, b)
    if scheme == 'rpm':
        return rpm_evr_compare(a, b)
    raise VaporError("The version scheme %r is not one of %s." % (scheme, ', '.join(SCHEMES)))
