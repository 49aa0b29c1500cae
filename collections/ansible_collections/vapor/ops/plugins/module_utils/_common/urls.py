# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The one URL helper: every storage URL, SFN and quarantine URL is split here, the same way; and the
# host facts URLs carry (default ports, host name comparison).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# scheme://authority then the rest (path, query) as written; DOTALL so a newline in a path is kept, not cut
URL_RE = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$', re.S)

# the credentials a URL may carry: user:password@ (or a token as the user name), and query parameters that hold a
# secret (authz: XRootD's bearer token parameter). The user information ends at the LAST '@' before the path, as
# urllib and requests split it: a password may hold an '@'. A parameter name is matched whole or after a non-
# alphanumeric ('refresh_token', 'X-Amz-Signature'), not inside a word ('sortkey=1' is no secret: its value would be
# masked everywhere in a module's output).
_USERINFO_RE = re.compile(r'(?<=://)[^/\s]*@')
_USERINFO_GROUP_RE = re.compile(r'://([^/\s]*)@')
_SECRET_QUERY_RE = re.compile(r'((?<![A-Za-z0-9])(?:access_token|token|authz|password|passwd|secret|api_?key|key|sig|'
                              r'signature)=)[^&#\s]*', re.I)


def safe_url(url):
    """A URL fit for a message or a result: no user:password@, no token or password in the query."""
    text = _USERINFO_RE.sub('', str(url))
    return _SECRET_QUERY_RE.sub(r'\1***', text)


def url_secrets(url, bare_user=True):
    """The secret parts written inside a URL, for a module to hide from its logs and its invocation: the password of
    ``user:password@`` and the values of the query parameters safe_url() hides; with ``bare_user`` also the user
    name when there is no password (an HTTP service's token is often written there; a storage URL's user name is
    not a secret, and hiding it would mask that word in every path of the output)."""
    text = str(url or '')
    found = set()
    userinfo = _USERINFO_GROUP_RE.search(text)
    if userinfo:
        user, sep, password = userinfo.group(1).partition(':')
        if sep or bare_user:
            found.add(password if sep else user)
    for match in _SECRET_QUERY_RE.finditer(text):
        found.add(match.group(0)[len(match.group(1)):])
    found.discard('')
    return found


def split_url(url):
    """(scheme as written, authority as written, rest) of a URL, or None when it is not one."""
    m = URL_RE.match(url or '')
    return m.groups() if m else None


def split_authority(authority):
    """(host, port or None) of an authority ('user@host:port', '[v6]:port'); the host as written."""
    host = authority.rpartition('@')[2]
    port = None
    if host.startswith('['):
        end = host.find(']')
        if end > 0:
            rest = host[end + 1:]
            host = host[1:end]
            if rest.startswith(':') and rest[1:].isdigit():
                port = int(rest[1:])
        return host, port
    name, sep, p = host.rpartition(':')
    if sep and p.isdigit():
        return name, int(p)
    if sep and not p:
        return name, None
    return host, None


def join_url(prefix, path):
    """The URL of a path below a URL prefix (such as root://se:1094//data/vo then /a/b): exactly one '/' between."""
    return prefix.rstrip('/') + '/' + path.lstrip('/')


# the ports a URL of each scheme has when it names none
DEFAULT_PORTS = {'srm': 8446, 'root': 1094, 'xroot': 1094, 'https': 443, 'davs': 443, 'http': 80, 'dav': 80,
                 'gsiftp': 2811}


def same_host(a, b):
    """Host names compare without case and without a trailing dot (DNS names are case-insensitive)."""
    if a is None or b is None:
        return a is b
    return a.rstrip('.').lower() == b.rstrip('.').lower()
