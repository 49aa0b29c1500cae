# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Option values given as text: durations ('7d', '12h') and file modes ('0644').
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

_DURATION_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$')
_DURATION_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


def parse_duration(value, name='duration'):
    """Seconds from an int or a string such as '30d', '12h', '90m', '45s' or '3600'."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise VaporError("The %s '%s' is not a finite number of seconds; give a value such as '7d'." % (name, value))
        if value < 0:
            raise VaporError("The %s '%s' is negative; give a number of seconds or a value such as '7d'." % (name, value))
        return int(value)
    m = _DURATION_RE.match(str(value))
    if not m:
        raise VaporError("The %s '%s' is not a duration; give a number of seconds or a value such as '7d', '12h'." % (name, value))
    return int(float(m.group(1)) * _DURATION_UNITS[m.group(2)])


def parse_mode(value):
    """File permissions from an int or an octal string such as '0644'."""
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise VaporError("The file mode '%s' is not an octal number such as '0644'." % value)
