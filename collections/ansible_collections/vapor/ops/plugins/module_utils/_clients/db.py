# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Database clients (MySQL/MariaDB, PostgreSQL, SQLite): the connection options every job that reads a
# database shares, declared once.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec


def connection_suboptions(host_default=None):
    """The suboptions of a database connection (the se_dump 'db' option, the catalog's MySQL settings)."""
    return dict(
        host=dict(type='str', default=host_default),
        port=dict(type='int'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        database=dict(type='str'),
        unix_socket=dict(type='path'),
        config_file=dict(type='path'),
        connect_timeout=dict(type='int', default=30),
    )


def connection_option(name, host_default=None, **extra):
    """An OptionSpec of one dict option holding a database connection."""
    spec = dict(type='dict', options=connection_suboptions(host_default))
    spec.update(extra)
    if spec['options']['host']['default'] is None:
        del spec['options']['host']['default']
    return OptionSpec({name: spec})
