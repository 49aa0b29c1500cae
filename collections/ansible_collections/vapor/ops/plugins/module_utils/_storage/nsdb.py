# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What the namespace-database scanners (dpm.py, dcache.py) share: the fetch size, reading under one error
# sentence, and the check that every root was found.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import db_where, exc_text

FETCH = 2000


@contextlib.contextmanager
def reading(conn, settings):
    """Read a namespace: any driver error becomes one sentence naming the database; the connection is closed."""
    try:
        yield
    except VaporError:
        raise
    except Exception as exc:  # each driver has its own exception tree
        raise VaporError("Reading the namespace from the database %s failed: %s." % (db_where(settings), exc_text(exc)))
    finally:
        conn.close()


def check_roots(seen, roots, settings):
    """``seen``: the indexes of the roots found as directories."""
    for i, r in enumerate(roots):
        if i not in seen and r != '/':
            raise VaporError("The root '%s' is not a directory in the namespace of the database %s."
                             % (r, db_where(settings)))
