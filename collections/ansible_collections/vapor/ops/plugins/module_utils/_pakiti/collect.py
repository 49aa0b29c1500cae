# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What pakiti-client 3.0.4 collects on a host, with the same meaning and the same bytes: the installed packages
# (rpm, else dpkg-query, else pkg) and the headers (arch, cpu, host, kernel, packager, site, system, tag, version).
#
#   collect(...) -> Inventory      .headers (dict), .packages ((name, version, arch) tuples, in pakiti-client's
#                                  order), .packager, .warnings, .skipped
#   run_tool(name, args)           the default runner: a tool from /bin, /usr/bin, /sbin or /usr/sbin, LC_ALL=C
#
# Where this differs from pakiti-client it is said at the place. pakiti-client stops on some hosts (no "model
# name" in /proc/cpuinfo, an /etc/os-release without VERSION_ID under its fatal warnings); here those give a
# warning or a report that is still well formed.
#
# The tools run through os.posix_spawn, not the subprocess module: loading subprocess (and what it loads) takes
# about as long as dpkg-query takes to list a small host's packages (benchmarks/bench_package_report.py).
#
# Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.report import REPORT_FORMAT_VERSION, strip

# pakiti-client's which(): a fixed search path, not $PATH.
TOOL_DIRS = ('/bin', '/usr/bin', '/sbin', '/usr/sbin')
PACKAGERS = ('rpm', 'dpkg', 'pkg')          # the order pakiti-client tries them in

RPM_QUERYFORMAT = '%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{ARCH}\n'
# pakiti-client's query, with the header digest and signature checks of the local database off: the same output
# for a sound database, in about half the time on 10,000 packages (rpm's own time is most of a collection's).
RPM_QUERY = ['-qa', '--nodigest', '--nosignature', '--queryformat']
DPKG_SHOWFORMAT = '${Status}=${Package}\t${Version}\t${Architecture}\n'
RELEASE_FILES = ('/etc/redhat-release', '/etc/fedora-release')

RPM_PUBKEY_PREFIX = b'gpg-pubkey\t'
DPKG_INSTALLED_PREFIX = b'install ok installed'

# lsb_release -i / -r output, as pakiti-client matches it (compiled when a host without os-release needs them)
_SPACE = '[ \t\n\x0b\f\r]'
LSB_ID = r'\ADistributor%s+ID%s*:%s+([^ \t\n\x0b\f\r]+?)%s*\Z' % ((_SPACE,) * 4)
LSB_RELEASE = r'\ARelease%s*:%s+([^ \t\n\x0b\f\r]+?)%s*\Z' % ((_SPACE,) * 3)


class Inventory(object):
    """What collect() found.

    ``headers``: dict str -> str, the report headers. ``packages``: list of (name, version, arch) tuples of str,
    sorted as pakiti-client sorts its lines. ``packager``: 'rpm', 'dpkg' or 'pkg'. ``warnings``: sentences about
    what is left out and why (e.g. no cpu header). ``skipped``: one sentence per package manager tried before
    the one that gave the list, saying why it gave nothing.
    """

    __slots__ = ('headers', 'packages', 'packager', 'warnings', 'skipped')

    def __init__(self, headers, packages, packager, warnings=None, skipped=None):
        self.headers = headers
        self.packages = packages
        self.packager = packager
        self.warnings = warnings or []
        self.skipped = skipped or []


def which(name):
    """The path of tool ``name`` in TOOL_DIRS (a regular, executable file), or None."""
    for directory in TOOL_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run_tool(name, args):
    """Run tool ``name`` (looked up as pakiti-client does) with ``args``: ``(rc, stdout, stderr)`` as bytes.

    None when the tool is not there. No shell; LC_ALL=C; stdin is /dev/null. This is collect()'s default runner;
    tests give their own with the same signature.
    """
    path = which(name)
    if path is None:
        return None
    env = dict(os.environ)
    env['LC_ALL'] = 'C'
    try:
        return spawn([path] + list(args), env)
    except OSError as exc:
        return 127, b'', str(exc).encode('utf-8', 'surrogateescape')


def spawn(argv, env):
    """``(rc, stdout, stderr)`` of ``argv`` (argv[0] a path; no shell, no PATH search) run with ``env``, its stdin
    /dev/null; rc is negative for a signal, as subprocess gives it. OSError when it cannot be started.

    What subprocess.run does, with os.posix_spawn and a poll loop over both pipes (neither can fill up and stall
    the tool): the subprocess module and what it loads take about as long to import as dpkg-query takes to list
    a small host's packages. Where os.posix_spawn is missing, subprocess.run.
    """
    if not hasattr(os, 'posix_spawn'):
        import subprocess
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    import select
    out_r, out_w = os.pipe()          # not inherited (close-on-exec) but for the copies made for the child
    err_r, err_w = os.pipe()
    pid = None
    try:
        try:
            try:
                if out_w == 1:
                    # fds 0 and 1 were closed. The child's dup2(1, 1) would keep the close-on-exec flag before
                    # glibc 2.29 (EL8): the tool would run with stdout closed. A copy gets fd 3 or above (0-2 taken).
                    moved = os.dup(out_w)
                    os.close(out_w)
                    out_w = moved
                # stdout and stderr first: a pipe end may have got fd 0 or 1 when the caller runs with them closed
                pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)])
            finally:
                os.close(out_w)
                os.close(err_w)
            chunks = {out_r: [], err_r: []}
            poller = select.poll()
            for fd in chunks:
                poller.register(fd, select.POLLIN)
            reading = len(chunks)
            while reading:
                for fd, dummy in poller.poll():
                    data = os.read(fd, 1 << 16)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        reading -= 1
            status = os.waitpid(pid, 0)[1]
        except BaseException:
            if pid is not None:       # started and not yet reaped (an interrupt, a failed read): no zombie
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            raise
    finally:
        os.close(out_r)
        os.close(err_r)
    if os.WIFSIGNALED(status):
        rc = -os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
    return rc, b''.join(chunks[out_r]), b''.join(chunks[err_r])


def _perl_true(value):
    """Whether pakiti-client's ``if ($Option{x})`` takes the value: not undef, not '' and not '0'."""
    return value is not None and value != '' and value != '0'


def _path(root, path):
    return os.path.join(root, path.lstrip('/'))


def _read(root, path):
    try:
        with open(_path(root, path), 'rb') as handle:
            return handle.read().decode('utf-8', 'surrogateescape')
    except (IOError, OSError) as exc:
        raise VaporError('Cannot read %s: %s.' % (path, exc.strerror or exc))


def _first_line(data):
    """The line of a tool's stderr that says why it failed: the first one with 'error' in it (dpkg-query prints its
    warnings first), else the first one; on one line, without control characters, at most 200 characters."""
    lines = [' '.join(line.split()) for line in data.decode('utf-8', 'replace').splitlines()]
    lines = [''.join(ch for ch in line if ch >= ' ' and ch != '\x7f') for line in lines if line]
    for number, line in enumerate(lines):
        if 'error' in line.lower():
            if line.endswith(':') and number + 1 < len(lines):   # the cause is on the next line
                line = '%s %s' % (line, lines[number + 1])
            return line[:200]
    return lines[0][:200] if lines else ''


# -- headers -------------------------------------------------------------------------------------------------------


def _find_host(host, run, uts):
    """--host, else `hostname --fqdn`, else `hostname --long`, else `uname -n` (os.uname().nodename), stripped."""
    if _perl_true(host):
        return strip(host)
    for option in ('--fqdn', '--long'):
        result = run('hostname', [option])
        if result is not None:
            rc, out, dummy = result
            value = strip(out)
            if value and rc == 0:
                return value
    value = strip(uts.nodename)
    if not value:
        raise VaporError('The host name of this host is unknown: hostname and uname gave none; set the host option.')
    return value


def _os_release(text):
    """``NAME VERSION_ID`` from /etc/os-release, double quotes removed as pakiti-client does.

    pakiti-client removes every '"' and splits each line at '='; lines here are split at the first '=' only and
    comments are skipped, which gives the same value for every well-formed file. Without VERSION_ID (Debian
    testing) the value is NAME alone, where pakiti-client 3.0.4 stops on a fatal Perl warning; without NAME it is
    "Linux", the os-release default.
    """
    values = {}
    for line in text.replace('"', '').split('\n'):
        if line.lstrip().startswith('#'):
            continue
        key, sep, value = line.partition('=')
        if sep:
            values[key] = value
    name = values.get('NAME') or 'Linux'
    version_id = values.get('VERSION_ID')
    return '%s %s' % (name, version_id) if version_id else name


def _lsb_release(run):
    import re
    found = []
    for option, pattern in (('-i', LSB_ID), ('-r', LSB_RELEASE)):
        result = run('lsb_release', [option])
        if result is None or result[0] != 0:
            return None
        match = re.match(pattern, strip(result[1]))
        if match:
            found.append(strip(match.group(1)))
    return ' '.join(found) if len(found) == 2 else None


def _find_system(root, run, uts):
    """The operating system name, found as pakiti-client does (first match wins)."""
    for path in RELEASE_FILES:
        if os.path.isfile(_path(root, path)):
            value = strip(_read(root, path))
            if not value:
                raise VaporError('The release file %s is empty, so the operating system is unknown.' % path)
            return value
    if os.path.isfile(_path(root, '/etc/os-release')):
        return strip(_os_release(_read(root, '/etc/os-release')))
    if os.path.isfile(_path(root, '/etc/SuSE-release')):
        for line in _read(root, '/etc/SuSE-release').split('\n'):
            if 'suse' in line.lower():
                return strip(line)
    if os.path.isfile(_path(root, '/etc/freebsd-update.conf')):
        return strip('%s %s' % (uts.sysname, uts.release))
    if os.path.isfile(_path(root, '/etc/mygate')):
        return strip('%s %s %s' % (uts.sysname, uts.release, uts.version))
    value = _lsb_release(run)
    if value:
        return value
    raise VaporError('The operating system of this host is unknown: there is no /etc/redhat-release, '
                     '/etc/fedora-release, /etc/os-release or /etc/SuSE-release, and lsb_release names none.')


def _find_cpu(root):
    """(value, warning): `grep "model name" /proc/cpuinfo | sort -u | awk -F: '{print $2}'`, stripped.

    Several distinct models come out joined by one space (what strip() makes of the newlines). Lines are sorted
    by byte (sort in the C locale, as under cron). With no such line pakiti-client 3.0.4 stops; here the header is
    left out and the warning says why.
    """
    try:
        with open(_path(root, '/proc/cpuinfo'), 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        return None, 'The cpu header is left out: /proc/cpuinfo cannot be read (%s).' % (exc.strerror or exc)
    models = sorted(set(line for line in data.split(b'\n') if b'model name' in line))
    value = strip(b'\n'.join(line.split(b':')[1] if b':' in line else b'' for line in models))
    if not value:
        return None, ("The cpu header is left out: /proc/cpuinfo has no 'model name' line (pakiti-client 3.0.4 "
                      "would stop here).")
    return value, None


# -- packages ------------------------------------------------------------------------------------------------------


def _terminated(out):
    return out if not out or out.endswith(b'\n') else out + b'\n'


def rpm_lines(out):
    """The package lines (bytes, each ending in LF) of `rpm -qa --queryformat RPM_QUERYFORMAT` output.

    As pakiti-client: ``\\t(none):`` becomes ``\\t0:``, ``gpg-pubkey`` lines are dropped.
    """
    out = _terminated(out).replace(b'\t(none):', b'\t0:')
    return [line + b'\n' for line in out.split(b'\n')[:-1] if not line.startswith(RPM_PUBKEY_PREFIX)]


def dpkg_lines(out):
    """The package lines of `dpkg-query -W --showformat DPKG_SHOWFORMAT` output.

    As pakiti-client: only lines whose status starts ``install ok installed`` (so held packages, whose status is
    ``hold ok installed``, are not reported), cut after the first '='.
    """
    lines = []
    for line in _terminated(out).split(b'\n')[:-1]:
        if line.startswith(DPKG_INSTALLED_PREFIX):
            dummy, sep, rest = line.partition(b'=')
            if sep:
                lines.append(rest + b'\n')
    return lines


def pkg_lines(out, arch):
    """The package lines of `pkg info` output (FreeBSD, OpenBSD): NAME<TAB>VERSION<TAB>ARCH.

    As pakiti-client means it: the first word of each line, its first '-' before a digit made a TAB, the arch
    appended. (pakiti-client's own substitution leaves the line's newline inside the line when a description
    follows the name; this does not copy that slip.)
    """
    import re
    lines = []
    for line in _terminated(out).split(b'\n')[:-1]:
        word = line.split(None, 1)[0] if line.strip() else b''
        lines.append(re.sub(b'-([0-9])', b'\t\\1', word, count=1) + b'\t' + arch + b'\n')
    return lines


def _query(packager, run, rpm_dbpath, dpkg_admindir, arch):
    """(package lines, None) or (None, why this package manager gave nothing)."""
    if packager == 'rpm':
        tool, args = 'rpm', (['--dbpath', rpm_dbpath] if rpm_dbpath else []) + RPM_QUERY + [RPM_QUERYFORMAT]
    elif packager == 'dpkg':
        tool, args = 'dpkg-query', (['--admindir', dpkg_admindir] if dpkg_admindir else []) + [
            '-W', '--showformat=' + DPKG_SHOWFORMAT]
    else:
        tool, args = 'pkg', ['info']
    result = run(tool, args)
    if result is None:
        return None, '%s is not in %s' % (tool, ', '.join(TOOL_DIRS))
    rc, out, err = result
    if rc != 0:
        detail = _first_line(err or b'')
        return None, '%s exited with status %s%s' % (tool, rc, (' (%s)' % detail) if detail else '')
    if packager == 'rpm':
        lines = rpm_lines(out)
    elif packager == 'dpkg':
        lines = dpkg_lines(out)
    else:
        lines = pkg_lines(out, arch.encode('utf-8', 'surrogateescape'))
    if not lines:
        return None, '%s listed no installed package' % tool
    return lines, None


def _to_packages(lines, packager, warnings):
    """Sort the lines as Perl's sort does (by byte, LF included) and split them into (name, version, arch)."""
    lines.sort()
    text = b''.join(lines).decode('utf-8', 'surrogateescape')
    # NAME<TAB>VERSION<TAB>ARCH: name and version hold no TAB, the arch is the rest of the line
    packages = [tuple(fields) for fields in (line.split('\t', 2) for line in text.split('\n')[:-1]) if len(fields) == 3]
    if len(packages) != len(lines):
        warnings.append('%d line(s) of the %s package list are not NAME<TAB>VERSION<TAB>ARCH and are left out.'
                        % (len(lines) - len(packages), packager))
    return packages


def collect(packager='auto', host=None, site=None, tag=None, rpm_dbpath=None, dpkg_admindir=None, run=None,
            root='/'):
    """The Inventory of this host, as pakiti-client 3.0.4 would report it.

    ``packager``: 'auto' (rpm, then dpkg-query, then pkg: the first that lists packages wins; a tool that is
    missing, fails or lists nothing is skipped), or 'rpm', 'dpkg', 'pkg' for that one only. ``host``, ``site``,
    ``tag``: as pakiti-client's options (stripped; site and tag headers only when given). ``rpm_dbpath``
    (``rpm --dbpath``) and ``dpkg_admindir`` (``dpkg-query --admindir``) read another package database.
    ``run``: the tool runner, ``run(name, args) -> (rc, stdout, stderr) or None`` (default run_tool). ``root``:
    where /etc and /proc are read from (tests). No package list at all raises VaporError naming every package
    manager tried and why each gave nothing.
    """
    if packager not in ('auto',) + PACKAGERS:
        raise VaporError("The packager %r is not one of auto, rpm, dpkg, pkg." % (packager,))
    if rpm_dbpath is not None and not os.path.isdir(rpm_dbpath):
        raise VaporError('The RPM database directory %s does not exist.' % rpm_dbpath)
    if dpkg_admindir is not None and not os.path.isdir(dpkg_admindir):
        raise VaporError('The dpkg database directory %s does not exist.' % dpkg_admindir)
    run = run or run_tool
    uts = os.uname()
    warnings = []
    headers = {'version': REPORT_FORMAT_VERSION}
    if _perl_true(site):
        headers['site'] = strip(site)
    if _perl_true(tag):
        headers['tag'] = strip(tag)
    headers['host'] = _find_host(host, run, uts)
    headers['kernel'] = strip(uts.release)
    headers['arch'] = strip(uts.machine)
    cpu, warning = _find_cpu(root)
    if cpu is None:
        warnings.append(warning)
    else:
        headers['cpu'] = cpu
    headers['system'] = _find_system(root, run, uts)
    skipped = []
    for name in (PACKAGERS if packager == 'auto' else (packager,)):
        lines, why = _query(name, run, rpm_dbpath, dpkg_admindir, headers['arch'])
        if lines is None:
            skipped.append(why)
            continue
        headers['packager'] = name
        return Inventory(headers, _to_packages(lines, name, warnings), name, warnings, skipped)
    raise VaporError('No package list for this host: %s.' % '; '.join(skipped))
