# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Values read from databases and bindings: bytes become text the one way (UTF-8, undecodable bytes kept as
# surrogates so that a name never changes on its way through).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def to_text(value):
    """Bytes as text (UTF-8 with surrogateescape); anything else unchanged."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode('utf-8', 'surrogateescape')
    return value
