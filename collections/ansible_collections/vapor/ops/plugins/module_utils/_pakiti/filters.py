# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What a site chooses not to send, applied on the node before the report leaves it: packages by name (include and
# exclude patterns), the kernel (its header and its packages) and whole headers. pakiti-client has no such filter;
# the Pakiti server only drops a few packages after it has received them.
#
#   NamePatterns(patterns, what)   a list of shell globs and 're:' regular expressions, checked when built
#   Filters(...).apply(headers, packages) -> (headers, packages, counts)
#   KERNEL_PACKAGES                the names (globs) of the kernel packages, written once
#
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.report import KNOWN_HEADERS

REGEX_PREFIX = 're:'

# The packages that carry the running kernel, as shell globs on the package name. The first group is
# pakiti-server's KERNEL_PACKAGES_NAMES (src/common/DefaultConfig.php) and the kernel entries of its
# IGNORE_PACKAGES; 'kernel-*' then covers every other RPM split of the kernel (kernel-core, kernel-modules*,
# kernel-uek*, kernel-rt*, kernel-64k*, kernel-tools*...). The Debian and Ubuntu group covers the images, headers,
# modules and build tools, whose package names or versions carry the kernel version.
KERNEL_PACKAGES = (
    'kernel', 'kernel-devel', 'kernel-smp', 'kernel-smp-devel', 'kernel-xenU', 'kernel-xenU-devel',
    'kernel-largesmp', 'kernel-largesmp-devel', 'kernel-xen', 'kernel-PAE', 'kernel-hugemem',
    'kernel-default', 'kernel-default-devel',
    'kernel-headers', 'kernel-debug', 'kernel-source', 'kernel-firmware', 'kernel-debug-devel', 'kernel-kdump',
    'kernel-syms', 'kernel-macros',
    'kernel-*',
    'linux-image', 'linux-image-*', 'linux-headers-*', 'linux-modules-*', 'linux-kbuild-*', 'linux-signed-*',
    'linux-tools-*', 'linux-cloud-tools-*', 'linux-generic*',
)

# Headers the collector cannot do without: the host identifies the report, the version its format.
REQUIRED_HEADERS = ('host', 'version')


class NamePatterns(object):
    """A list of package-name patterns: a shell glob, or ``re:`` followed by a Python regular expression.

    A glob matches the WHOLE name, case-sensitively (``fnmatch.fnmatchcase``: ``python3*`` matches
    ``python3-libs``, ``*ssl`` does not match ``openssl-libs``). A ``re:`` pattern is searched ANYWHERE in the
    name (``re.search``: ``re:ssl`` matches ``openssl-libs``; anchor with ``^``/``$`` for a whole-name match). A
    name matches the list when it matches one of them. ``what`` names the list in errors ("include").
    """

    def __init__(self, patterns, what):
        if patterns is None:
            patterns = []
        elif isinstance(patterns, str):
            patterns = [patterns]
        globs = []
        self._regexes = []
        self._globs = None
        self.empty = True
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern:
                raise VaporError('The %s pattern %r is not a non-empty string.' % (what, pattern))
        if not patterns:
            return      # no pattern: nothing to compile (a run without filters does not even load re)
        import fnmatch
        import re
        for pattern in patterns:
            if pattern.startswith(REGEX_PREFIX):
                try:
                    self._regexes.append(re.compile(pattern[len(REGEX_PREFIX):]))
                except re.error as exc:
                    raise VaporError("The %s pattern '%s' does not compile: %s." % (what, pattern, exc))
            else:
                globs.append(fnmatch.translate(pattern))
        # fnmatch.translate() gives a whole-string expression; one alternation tests all globs in one call.
        self._globs = re.compile('|'.join('(?:%s)' % g for g in globs)) if globs else None
        self.empty = not globs and not self._regexes

    def matches(self, name):
        """Whether the package name matches one of the patterns (never, for an empty list)."""
        if self._globs is not None and self._globs.match(name):
            return True
        for regex in self._regexes:
            if regex.search(name):
                return True
        return False


_KERNEL = []


def _kernel():
    """KERNEL_PACKAGES compiled, on first use (only a run with kernel: false needs them)."""
    if not _KERNEL:
        _KERNEL.append(NamePatterns(KERNEL_PACKAGES, 'kernel'))
    return _KERNEL[0]


def is_kernel_package(name):
    """Whether ``name`` is one of KERNEL_PACKAGES."""
    return _kernel().matches(name)


class Filters(object):
    """The site's choice of what a report leaves out.

    ``include``: package-name patterns (see NamePatterns); empty or None sends every package. ``exclude``: patterns
    of packages never sent; exclude wins over include. ``kernel=False`` drops the ``kernel`` header and every
    package of KERNEL_PACKAGES. ``headers``: names of headers to drop (``host`` and ``version`` cannot be: the
    collector needs them). Every pattern and name is checked here, so bad options fail before anything is collected.
    """

    def __init__(self, include=None, exclude=None, kernel=True, headers=None):
        self.include = NamePatterns(include, 'include')
        self.exclude = NamePatterns(exclude, 'exclude')
        self.kernel = bool(kernel)
        if headers is None:
            headers = []
        elif isinstance(headers, str):
            headers = [headers]
        for name in headers:
            if name in REQUIRED_HEADERS:
                raise VaporError("The header '%s' cannot be dropped: the collector needs it." % name)
            if name not in KNOWN_HEADERS:
                raise VaporError("The header %r is not one a report has; the known headers are %s."
                                 % (name, ', '.join(KNOWN_HEADERS)))
        self.drop_headers = frozenset(headers) | (frozenset() if self.kernel else frozenset(['kernel']))

    def _keeps(self, name):
        if not self.include.empty and not self.include.matches(name):
            return False
        if self.exclude.matches(name):
            return False
        return self.kernel or not _kernel().matches(name)

    def apply(self, headers, packages):
        """``(headers, packages, counts)`` after the filters; the inputs are not changed.

        ``packages`` are (name, version, arch) tuples; the kept ones keep their order. ``counts`` is
        ``{'found': n, 'sent': m, 'filtered': n - m}``. The names of the filtered packages are neither returned nor
        logged: a site that filters a package does not want it named anywhere.
        """
        kept_headers = dict((k, v) for k, v in headers.items() if k not in self.drop_headers)
        if self.include.empty and self.exclude.empty and self.kernel:
            kept = list(packages)
        else:
            keeps = self._keeps
            kept = [p for p in packages if keeps(p[0])]
        found = len(packages)
        return kept_headers, kept, {'found': found, 'sent': len(kept), 'filtered': found - len(kept)}
