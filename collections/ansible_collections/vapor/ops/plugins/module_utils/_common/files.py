# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# File content: the SHA-256 of a file, read in blocks.
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError


def file_sha256(path, label):
    """SHA-256 of a file's content; ``label`` names the file in the error sentence ('The lost list ...')."""
    h = hashlib.sha256()
    try:
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                h.update(block)
    except (IOError, OSError) as exc:
        raise VaporError("%s '%s' cannot be read: %s." % (label, path, exc.strerror or exc))
    return h.hexdigest()
