# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The XRootD client: the distribution's python3-xrootd binding (imported once, here, behind a guard) and the
# client environment (XRD_* variables) that bounds it, for the XRootD scanner and for gfal2's root:// plugin.
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

# imported here once, for the scanner (_storage/xrootd.py) that uses them
try:
    from XRootD import client as xrd_client  # pylint: disable=unused-import
    from XRootD.client.flags import DirListFlags, QueryCode, StatInfoFlags  # pylint: disable=unused-import
    HAS_XROOTD = True
    IS_DIR = StatInfoFlags.IS_DIR
except ImportError:
    xrd_client = None
    DirListFlags = QueryCode = StatInfoFlags = IS_DIR = None
    HAS_XROOTD = False

XROOTD_REQUIREMENT = 'XRootD (the python3-xrootd binding)'


def require_binding():
    if not HAS_XROOTD:
        raise VaporError("The XRootD Python binding is not importable by %s; install python3-xrootd and run the "
                         "module with the system Python (ansible_python_interpreter=/usr/bin/python3)."
                         % sys.executable)


def xrootd_environment(timeout, environ=None):
    """Bound the XRootD client (gfal2's root:// plugin) by ``timeout``: the variables it reads once, when it first
    starts in the process. Its defaults (a 120 s connection window, 5 connection retries, a 1800 s request
    timeout) kept a stat of a dead endpoint waiting about 8 minutes whatever the module's timeout; our own retries
    replace its connection retries. A variable the site set already is left as it is. The names set are returned."""
    environ = os.environ if environ is None else environ
    timeout = max(1, int(timeout))
    wanted = {'XRD_CONNECTIONWINDOW': timeout, 'XRD_CONNECTIONRETRY': 1, 'XRD_REQUESTTIMEOUT': timeout,
              'XRD_STREAMTIMEOUT': timeout, 'XRD_TIMEOUTRESOLUTION': 1}
    done = []
    for name, value in sorted(wanted.items()):
        if not xrootd_site_set(name, environ):
            environ[name] = str(value)
            if environ is os.environ:
                _XRD_OURS[name] = str(value)
            done.append(name)
    return done


_XRD_OURS = {}      # the XRD_* variables this process set itself (a later run in the process may set them again)


def xrootd_site_set(name, environ=None):
    """Did the site (not an earlier run in this process) set the XRootD client variable ``name``?"""
    environ = os.environ if environ is None else environ
    if name not in environ:
        return False
    return not (environ is os.environ and _XRD_OURS.get(name) == environ[name])
