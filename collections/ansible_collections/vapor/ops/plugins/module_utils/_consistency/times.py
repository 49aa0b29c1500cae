# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Times of dumps: from file names (%Y%m%d, %Y%m%d_%H%M%S, %Y%m%dT%H%M%SZ) and from options (epoch seconds,
# UTC ISO 8601); a time is an interval (start, end), a bare day covering the whole UTC day.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

DAY = 86400

# a date in a file name: %Y%m%d, %Y%m%d_%H%M%S or %Y%m%dT%H%M%SZ
_NAME_TIME_RE = re.compile(r'(?<![0-9])(\d{4})(\d{2})(\d{2})(?:[_T](\d{2})(\d{2})(\d{2})Z?)?(?![0-9])')
_ISO_RE = re.compile(r'^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*'
                     r'(Z|[+-]\d{2}:?\d{2})?\s*$')


def utc(ts):
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _epoch(y, mo, d, h=0, mi=0, s=0):
    try:
        datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def time_from_name(name):
    """(start, end) from the last date in a file name; a bare day covers the whole UTC day; or None."""
    found = None
    for m in _NAME_TIME_RE.finditer(name):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4) is not None:
            t = _epoch(y, mo, d, int(m.group(4)), int(m.group(5)), int(m.group(6)))
            if t is not None:
                found = (t, t)
        else:
            t = _epoch(y, mo, d)
            if t is not None:
                found = (t, t + DAY)
    return found


def parse_time(value, name):
    """(start, end) from an option: epoch seconds, ISO 8601 (UTC unless an offset is given), or a name-style date."""
    if value is None or value == '':
        return None
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    text = str(value).strip()
    if re.match(r'^\d{9,}(\.\d*)?$', text):      # epoch seconds; 8 digits alone are a date (below)
        t = float(text)
        return (t, t)
    m = _ISO_RE.match(text)
    if m:
        parts = [int(g) if g else 0 for g in m.groups()[:6]]
        t = _epoch(*parts)
        if t is not None:
            tz = m.group(7)
            if tz and tz != 'Z':
                sign = -1 if tz[0] == '+' else 1
                digits = tz[1:].replace(':', '')
                t += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            if m.group(4) is None:
                return (t, t + DAY)
            return (t, t)
    if re.match(r'^\d{8}([_T]\d{6}Z?)?$', text):
        found = time_from_name(text)
        if found:
            return found
    raise VaporError("The %s '%s' is not a time; give epoch seconds or UTC ISO 8601 such as 2026-11-21T08:00:00Z."
                     % (name, value))


def describe_time(t):
    lo, hi = t['time'], t['time_until']
    if hi - lo >= DAY:
        return '%s (the whole UTC day, from its %s)' % (utc(lo)[:10], t['time_source'])
    return '%s (from its %s)' % (utc(lo), t['time_source'])
