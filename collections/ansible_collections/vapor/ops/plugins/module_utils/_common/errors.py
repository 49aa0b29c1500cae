# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The one error type of the core: a one-sentence message that names the object and the cause.
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class VaporError(Exception):
    """An error with a one-sentence, user-facing message that names the object and the cause."""

    def __init__(self, msg, **context):
        super(VaporError, self).__init__(msg)
        self.msg = msg
        self.context = context
