# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The Pakiti protocol 5 report (report format version 1), as pakiti-client 3.x writes it:
#
#   #                         a separator line
#   arch: x86_64              header lines "name: value", sorted by name
#   host: wn001.example.org
#   ...
#   #                         a separator line
#   bash<TAB>0:5.1.8-6<TAB>x86_64    package lines, in the order the collector gave them
#   #                         the closing separator line
#
# Every line ends in LF. A report without packages is only the first separator and the header lines.
#
#   strip(value)                   pakiti-client's clean-up of a header value
#   format_report(headers, pkgs)   the report bytes
#   parse_report(data, what)       a prepared report (the ``input`` option) checked and split, or VaporError
#   set_site(data, site)           pakiti-client's ``--input`` with ``--site``: the site header set in a report
#   read_regular(path, what, limit) a file's bytes, refusing at once (never blocking) what is not a regular file
#
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import file_kind

# The header names pakiti-client 3.0.4 writes (site and tag only when given, cpu only when known).
KNOWN_HEADERS = ('arch', 'cpu', 'host', 'kernel', 'packager', 'site', 'system', 'tag', 'version')
REPORT_FORMAT_VERSION = '1'

# Perl's \s on a byte string: space, TAB, LF, VT, FF, CR (no Unicode spaces: pakiti-client works on bytes).
PERL_SPACE = ' \t\n\x0b\f\r'
_TO_SPACE = dict((ord(c), ' ') for c in PERL_SPACE)

# Bytes that never occur in a plain report: NUL and the control characters other than TAB and LF (CR is told apart).
_BINARY = b'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]'
# The DER encoding of the PKCS#7 enveloped-data OID (1.2.840.113549.1.7.3) that starts an S/MIME encrypted report.
_ENVELOPED_DATA_OID = b'\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03'


def strip(value):
    """A header value cleaned as pakiti-client's strip() does, in its order.

    Leading and trailing whitespace is removed, each run of whitespace becomes one space, then every character
    outside 0x20-0x7e is deleted. The deletion comes last, so ``'a \\x01 b'`` gives ``'a  b'`` (two spaces), as
    pakiti-client sends it. Whitespace is Perl's on bytes: space, TAB, LF, VT, FF and CR. ``None`` gives ``''``.
    Bytes are read as UTF-8 (undecodable bytes are deleted like any other non-ASCII character).
    """
    if value is None:
        return ''
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode('utf-8', 'surrogateescape')
    # string methods, not regular expressions: a scheduled run that loads no re module starts faster
    value = ' '.join(word for word in value.strip(PERL_SPACE).translate(_TO_SPACE).split(' ') if word)
    if value.isascii() and value.isprintable():
        return value
    return ''.join(ch for ch in value if ' ' <= ch <= '~')


def format_report(headers, packages):
    """The report bytes for ``headers`` (dict name -> value) and ``packages`` ((name, version, arch) tuples).

    Headers come sorted by name, a ``None`` value is left out. The package lines keep the given order (collect()
    gives pakiti-client's). With no packages the report is the first separator and the headers only, exactly as
    pakiti-client writes it. Text is encoded as UTF-8 with surrogateescape, so bytes read from the package manager
    come back unchanged.
    """
    parts = ['#\n']
    for name in sorted(headers):
        value = headers[name]
        if value is None or name == 'packages':
            continue
        parts.append('%s: %s\n' % (name, value))
    if packages:
        parts.append('#\n')
        parts.append('\n'.join(map('\t'.join, packages)))
        parts.append('\n#\n')
    return ''.join(parts).encode('utf-8', 'surrogateescape')


def _refuse(what, cause):
    return VaporError("The report file '%s' %s." % (what, cause))


def parse_report(data, what):
    """``(headers, package_lines)`` of a prepared report, or one VaporError naming ``what`` and the cause.

    ``data`` is the whole file (bytes); ``what`` is the file's name as the user gave it (messages read "The report
    file '<what>' is empty."). ``headers`` is a dict str -> str (UTF-8, surrogateescape), ``package_lines`` the
    package lines as bytes without their LF. Refused: an empty file, an S/MIME encrypted (DER) report, binary data,
    CR characters (CRLF line ends), a first line other than ``#``, a missing final LF, a header line without
    ``': '``, a header given twice, no ``host`` header, a package line that is not three non-empty TAB-separated
    fields, a package block without its closing ``#`` line, and anything after that line.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not data:
        raise _refuse(what, 'is empty')
    if data[:1] == b'\x30' and _ENVELOPED_DATA_OID in data[:64]:
        raise _refuse(what, 'is an S/MIME encrypted report (DER), not a plain-text one: give the unencrypted report')
    import re
    found = re.search(_BINARY, data)
    if found:
        raise _refuse(what, 'holds binary data (byte 0x%02x at offset %d), not a text report'
                      % (ord(found.group()), found.start()))
    if b'\r' in data:
        raise _refuse(what, 'has CR characters (CRLF line ends); a report has LF line ends only')
    if not data.startswith(b'#\n'):
        raise _refuse(what, "does not start with a '#' line, so it is not a Pakiti report")
    if not data.endswith(b'\n'):
        raise _refuse(what, 'does not end with a line feed (truncated?)')
    lines = data[:-1].split(b'\n')
    headers = {}
    index = 1
    while index < len(lines) and lines[index] != b'#':
        line = lines[index]
        name, sep, value = line.partition(b': ')
        if not sep or not name:
            raise _refuse(what, "has a line %d that is neither a 'name: value' header nor '#'" % (index + 1))
        key = name.decode('utf-8', 'surrogateescape')
        if key in headers:
            raise _refuse(what, "has the header '%s' twice" % key)
        headers[key] = value.decode('utf-8', 'surrogateescape')
        index += 1
    if 'host' not in headers:
        raise _refuse(what, "has no 'host' header")
    packages = []
    if index < len(lines):
        index += 1
        start = index
        while index < len(lines) and lines[index] != b'#':
            index += 1
        if index == len(lines):
            raise _refuse(what, "has no closing '#' line after its package lines (truncated?)")
        if index != len(lines) - 1:
            raise _refuse(what, "has lines after its closing '#' line (line %d)" % (index + 2))
        packages = lines[start:index]
        for number, line in enumerate(packages, start + 1):
            fields = line.split(b'\t')
            if len(fields) != 3 or not all(fields):
                raise _refuse(what, 'has a line %d that is not a package line (name, version and arch separated by '
                                    'TABs)' % number)
    return headers, packages


def set_site(data, site):
    """The report ``data`` (bytes) with its site header set to ``strip(site)``, as pakiti-client's --input --site.

    An existing ``site:`` header line of the first block is replaced in place; without one, ``site: X`` goes just
    before the second ``#`` line (the end of the headers), or at the end of a report without packages. Every other
    byte stays as it was. ``data`` is meant to have passed parse_report().
    """
    if not data.startswith(b'#\n'):
        raise VaporError("The report does not start with a '#' line, so its site cannot be set.")
    line = b'site: ' + strip(site).encode('ascii')
    lines = data.split(b'\n')
    index = 1
    while index < len(lines) and lines[index] != b'#':
        if lines[index].startswith(b'site: ') or lines[index] == b'site:':
            lines[index] = line
            return b'\n'.join(lines)
        index += 1
    if index == len(lines) and lines[-1] == b'':
        index -= 1     # a report without packages: after the last header line
    lines.insert(index, line)
    return b'\n'.join(lines)


def read_regular(path, what, limit):
    """The bytes of the regular file ``path`` (a symbolic link to one is followed), at most ``limit`` + 1 of them.

    ``what`` names the file in the one-sentence VaporError ("The input report '/x'"). A FIFO, a device, a socket or
    a directory is refused at once: the file is opened without blocking, so a FIFO with no writer (or /dev/zero,
    /dev/stdin) can never hold the run.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise VaporError("%s is a directory, not a file." % what)
        raise VaporError("%s cannot be read: %s." % (what, exc.strerror or exc))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise VaporError("%s is %s, not a regular file." % (what, file_kind(mode)))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b''.join(chunks)
    except OSError as exc:
        raise VaporError("%s cannot be read: %s." % (what, exc.strerror or exc))
    finally:
        os.close(fd)
