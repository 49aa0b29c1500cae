# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The version-only report (the Tier-0's wish for middleware readiness): for each service type the site names,
# the installed versions of its product, nothing else about the host.
#
#   versions_report(hostname, products, packages) -> (entries, missing)
#   format_versions(entries) -> bytes
#
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.filters import NamePatterns


def display_version(version):
    """The version as the report shows it: a leading ``0:`` epoch dropped (rpm's ``0:1.2-3`` is ``1.2-3``).

    A non-zero epoch stays (``2:1.2-3``). dpkg never prints a zero epoch, so its versions come out as they are.
    """
    if version.startswith('0:'):
        return version[2:]
    return version


def versions_report(hostname, products, packages):
    """``(entries, missing)`` for ``products`` (dict service type -> package-name pattern or list of patterns).

    Patterns are those of the package filters (a whole-name shell glob, or ``re:`` and a regular expression searched
    in the name). ``packages`` are (name, version, arch) tuples. Each service type gets one entry
    ``{'hostname', 'service_type', 'version'}`` per distinct version among its matching packages (so a host with
    two versions installed shows both). Entries are sorted by (service_type, version); ``missing`` is the sorted
    list of service types that no package matched.
    """
    if not isinstance(products, dict):
        raise VaporError('The products option is not a mapping of service type to package name.')
    entries = []
    missing = []
    for service_type in sorted(products):
        if not isinstance(service_type, str) or not service_type:
            raise VaporError('The products option has a service type %r that is not a non-empty string.'
                             % (service_type,))
        patterns = NamePatterns(products[service_type], "products '%s'" % service_type)
        if patterns.empty:
            raise VaporError("The products option gives no package name for the service type '%s'." % service_type)
        found = set(display_version(p[1]) for p in packages if patterns.matches(p[0]))
        if not found:
            missing.append(service_type)
        for version in sorted(found):
            entries.append({'hostname': hostname, 'service_type': service_type, 'version': version})
    return entries, missing


def format_versions(entries):
    """The entries as a JSON array, one entry per line, keys sorted, ASCII (so also UTF-8), ending in LF.

    One line per entry keeps the file readable and its diffs one line per change; the same entries always give
    the same bytes. An empty list is ``[]``.
    """
    if not entries:
        return b'[]\n'
    import json
    lines = [json.dumps(e, sort_keys=True, ensure_ascii=True, separators=(', ', ': ')) for e in entries]
    return ('[\n' + ',\n'.join(lines) + '\n]\n').encode('ascii')
