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

# The binding is imported on first use (load()), never when this file is imported: loading it starts the XRootD
# client library, which reads the XRD_* variables once, so gfal2's root:// plugin in the same process would ignore
# what xrootd_environment() sets afterwards (a dead endpoint then holds a stat for minutes). Whether it is there is
# known without importing it.
try:
    import importlib.util as _importlib_util
    HAS_XROOTD = _importlib_util.find_spec('XRootD') is not None
except (ImportError, ValueError):
    HAS_XROOTD = False

# set by load(): the binding's client module and flags, for the scanner (_storage/xrootd.py)
xrd_client = DirListFlags = QueryCode = StatInfoFlags = IS_DIR = None

XROOTD_REQUIREMENT = 'XRootD (the python3-xrootd binding)'


def require_binding():
    """Import the binding (once) and set the names above; VaporError when it cannot be imported."""
    global xrd_client, DirListFlags, QueryCode, StatInfoFlags, IS_DIR  # pylint: disable=global-statement
    if xrd_client is not None:
        return
    try:
        if not HAS_XROOTD:
            raise ImportError('no module named XRootD')
        from XRootD import client
        from XRootD.client.flags import DirListFlags as dir_list_flags, QueryCode as query_code, \
            StatInfoFlags as stat_info_flags
    except ImportError:
        raise VaporError("The XRootD Python binding is not importable by %s; install python3-xrootd and run the "
                         "module with the system Python (ansible_python_interpreter=/usr/bin/python3)."
                         % sys.executable)
    DirListFlags, QueryCode, StatInfoFlags = dir_list_flags, query_code, stat_info_flags
    IS_DIR = stat_info_flags.IS_DIR
    xrd_client = client


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
