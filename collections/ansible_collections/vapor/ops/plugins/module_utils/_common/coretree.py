# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# A copy of part of the collection's pure-Python core on a host, as one tree: the listed files of
# plugins/module_utils below <dest>/ansible_collections/vapor/ops/plugins/module_utils/, with an empty __init__.py in
# every directory of the package path, so that a runner with <dest> first on sys.path imports them under the very
# names the modules use. install_tree() writes only what differs (each file replaced whole, never through a link)
# and refuses, before writing anything, a tree it would have to write through a link; remove_tree() takes away
# exactly what install_tree() puts there. read_sources() is the controller's half: the listed files read from the
# collection, for the vapor.ops.install_core action plugin. Pure Python (no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import hashlib
import os
import stat

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import (
    chmod_nofollow, file_kind, read_regular_nofollow, write_private)
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_mode

# the package path of plugins/module_utils below the install directory
PACKAGE = ('ansible_collections', 'vapor', 'ops', 'plugins', 'module_utils')
INIT = '__init__.py'
DIR_MODE = 0o755
FILE_MODE = 0o644

INSTALL_CORE = OptionSpec(dict(
    dest=dict(type='path', required=True),
    files=dict(type='list', elements='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    mode=dict(type='raw', default='0644'),
    contents=dict(type='dict'),
))


# -- names --------------------------------------------------------------------------------------------------------


def split_name(name):
    """The parts of a listed core file's path, which is relative to plugins/module_utils; a name that is not a plain
    relative path of a file below it (absolute, with a '..', '.' or empty part, an __init__.py) is refused."""
    if not isinstance(name, str) or not name:
        raise VaporError("The core file name %r is not a path relative to plugins/module_utils." % (name,))
    if '\0' in name:
        raise VaporError("The core file name %r holds a NUL character." % (name,))
    if name.startswith('/'):
        raise VaporError("The core file '%s' is an absolute path; list it relative to plugins/module_utils." % name)
    parts = name.split('/')
    if '..' in parts:
        raise VaporError("The core file '%s' has a '..' part, which would leave plugins/module_utils." % name)
    if '' in parts or '.' in parts:
        raise VaporError("The core file '%s' is not a plain relative path (it has an empty or '.' part)." % name)
    if parts[-1] == INIT:
        raise VaporError("The core file '%s' is an %s, which the tree writes empty itself; leave it out of the list."
                         % (name, INIT))
    return parts


def plan_names(files):
    """({name: its parts below the install directory}, the tree's directories below it, parents first) for the
    listed core files ``files`` (duplicates count once)."""
    if not isinstance(files, (list, tuple)) or not files:
        raise VaporError("No core file is listed; give the paths of the files below plugins/module_utils.")
    split = {}
    for name in files:
        split[name] = PACKAGE + tuple(split_name(name))
    dirs = set(PACKAGE[:i] for i in range(1, len(PACKAGE) + 1))
    for parts in split.values():
        dirs.update(parts[:i] for i in range(len(PACKAGE) + 1, len(parts)))
    for name in sorted(split):
        if split[name] in dirs:
            raise VaporError("The core file '%s' is also the directory of another listed core file." % name)
    return split, sorted(dirs, key=lambda d: (len(d), d))


def _rel(parts):
    return '/'.join(parts)


# -- the controller's half ------------------------------------------------------------------------------------------


def read_sources(root, files):
    """{name: {'content': base64 text, 'sha256': hex}} of the listed core files, read from ``root`` (the collection's
    plugins/module_utils). Each must be a regular file reached through no symbolic link below ``root``."""
    split, _dirs = plan_names(files)
    out = {}
    for name in sorted(split):
        path = root
        for part in split[name][len(PACKAGE):]:
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except OSError as exc:
                raise VaporError("The core file '%s' cannot be read in %s: %s." % (name, root, exc.strerror or exc))
            if stat.S_ISLNK(st.st_mode):
                raise VaporError("The core file '%s' in %s is reached through the symbolic link '%s', which is not "
                                 "installed." % (name, root, path))
        if not stat.S_ISREG(st.st_mode):
            raise VaporError("The core file '%s' in %s is %s, not a regular file." % (name, root, file_kind(st.st_mode)))
        data = read_regular_nofollow(path)
        if data is None:
            raise VaporError("The core file '%s' cannot be read in %s: it changed while it was read." % (name, root))
        out[name] = {'content': base64.b64encode(data).decode('ascii'), 'sha256': hashlib.sha256(data).hexdigest()}
    return out


def decode_contents(files, contents):
    """{name: bytes} from the module's ``contents`` option ({name: {'content': base64, 'sha256': hex}}), which must
    hold exactly the listed ``files``, each matching its SHA-256."""
    if contents is None:
        raise VaporError("The contents of the core files were not given; run vapor.ops.install_core as a task, whose "
                         "action plugin reads them from the collection on the controller.")
    if not isinstance(contents, dict):
        raise VaporError("The contents of the core files are not a dictionary of file names.")
    listed, given = set(files or []), set(contents)
    if listed != given:
        raise VaporError("The contents given do not match the listed core files (without content: %s; not listed: %s)."
                         % (', '.join(sorted(listed - given)) or 'none', ', '.join(sorted(given - listed)) or 'none'))
    out = {}
    for name in sorted(contents):
        entry = contents[name]
        if not isinstance(entry, dict) or not isinstance(entry.get('content'), str):
            raise VaporError("The content of the core file '%s' is not given as base64 text." % name)
        try:
            data = base64.b64decode(entry['content'].encode('ascii'), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise VaporError("The content of the core file '%s' is not valid base64." % name)
        if hashlib.sha256(data).hexdigest() != str(entry.get('sha256') or '').lower():
            raise VaporError("The content of the core file '%s' does not match its SHA-256 (it was changed on the way)."
                             % name)
        out[name] = data
    return out


# -- looking at the host --------------------------------------------------------------------------------------------


def _kind(mode):
    """What a file of this st_mode is, in words, for a sentence."""
    if stat.S_ISLNK(mode):
        return 'a symbolic link'
    if stat.S_ISREG(mode):
        return 'a regular file'
    return file_kind(mode)


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise VaporError("The path '%s' cannot be examined: %s." % (path, exc.strerror or exc))


def _sha256(path):
    """SHA-256 of the regular file at ``path`` (not through a link), or None when it cannot be read as one."""
    try:
        data = read_regular_nofollow(path)
    except VaporError:
        return None
    return None if data is None else hashlib.sha256(data).hexdigest()


def _check_dest(dest):
    if not isinstance(dest, str) or not os.path.isabs(dest):
        raise VaporError("The install directory '%s' is not an absolute path." % (dest,))
    return os.path.normpath(dest)


def file_mode(value):
    """The files' mode from the option (an int, or octal text such as '0644'); beyond 0777 or unreadable by the
    owner is refused."""
    mode = parse_mode(FILE_MODE if value is None else value)
    if not 0 <= mode <= 0o777 or not mode & 0o400:
        raise VaporError("The file mode '%s' is not a mode from 0400 to 0777 that lets the owner read the core."
                         % (value,))
    return mode


def _state(st):
    """A line's state for the diff: a directory, or a file's mode (content is named by the SHA-256 separately)."""
    if stat.S_ISDIR(st.st_mode):
        return 'directory, mode %04o' % stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return 'symbolic link'
    return 'mode %04o' % stat.S_IMODE(st.st_mode)


def _diff(dest, before, after):
    """Ansible's diff of the changed paths: one sorted line per path, with its state, before and after."""
    def text(lines):
        return ''.join('%s\n' % line for line in sorted(lines))
    return {'before_header': dest, 'after_header': dest, 'before': text(before), 'after': text(after)}


# -- present -----------------------------------------------------------------------------------------------------


def install_tree(dest, contents, mode=FILE_MODE, check_mode=False):
    """Install the core files ``contents`` ({name relative to plugins/module_utils: bytes}) below ``dest``.

    Every directory of the package path is made (mode 0755) with an empty __init__.py (made once, its content never
    rewritten); each listed file whose content or mode differs is replaced whole (a temporary file next to it,
    fsync, rename), a symbolic link there replaced, not followed. A link or anything else than a directory at a
    directory of the tree (or anything else than a file or a link at a file of the tree) is refused in one sentence
    before anything is written. ``dest`` and its missing parents are made as well.

    Returns {'changed', 'changed_files': the listed names written or whose mode was set, sorted,
    'package_changed': the directories and __init__.py files made or whose mode was set (relative to ``dest``),
    'files': {name: SHA-256 of the content now there}, 'diff'}. Check mode looks at the same and writes nothing.
    """
    dest = _check_dest(dest)
    split, dirs = plan_names(list(contents))
    mode = file_mode(mode)
    st = None
    try:
        st = os.stat(dest)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise VaporError("The install directory '%s' cannot be examined: %s." % (dest, exc.strerror or exc))
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise VaporError("The install directory '%s' is %s, not a directory; nothing was written."
                         % (dest, _kind(st.st_mode)))
    make_dest = _missing_parents(dest) if st is None else []

    # 1. look at everything first: nothing is written when something is refused
    before, after = [], []
    make_dirs, chmod_dirs, write_inits, chmod_inits = [], [], [], []
    missing = set()        # the tree's directories that are not there (nothing below them is looked at)
    for d in dirs:
        path = os.path.join(dest, *d)
        st = None if make_dest or d[:-1] in missing else _lstat(path)
        if st is None:
            missing.add(d)
            make_dirs.append(d)
            after.append('%s/ (directory, mode %04o)' % (_rel(d), DIR_MODE))
        elif stat.S_ISLNK(st.st_mode):
            raise VaporError("The directory '%s' of the core's package path is a symbolic link; nothing was written "
                             "(the tree is never written through a link)." % path)
        elif not stat.S_ISDIR(st.st_mode):
            raise VaporError("The directory '%s' of the core's package path is %s, not a directory; nothing was written."
                             % (path, _kind(st.st_mode)))
        elif stat.S_IMODE(st.st_mode) != DIR_MODE:
            chmod_dirs.append(d)
            before.append('%s/ (%s)' % (_rel(d), _state(st)))
            after.append('%s/ (directory, mode %04o)' % (_rel(d), DIR_MODE))
    empty_sha = hashlib.sha256(b'').hexdigest()
    for d in dirs:
        init = d + (INIT,)
        path = os.path.join(dest, *init)
        st = None if d in missing else _lstat(path)
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise VaporError("The package file '%s' is %s, not a file; nothing was written." % (path, file_kind(st.st_mode)))
        if st is None or stat.S_ISLNK(st.st_mode):
            write_inits.append(init)
        elif stat.S_IMODE(st.st_mode) != mode:
            chmod_inits.append(init)
        else:
            continue
        if st is not None:
            before.append('%s (%s)' % (_rel(init), _state(st)))
        after.append('%s (sha256 %s, mode %04o)' % (_rel(init), empty_sha[:12], mode)
                     if st is None or stat.S_ISLNK(st.st_mode) else '%s (mode %04o)' % (_rel(init), mode))
    changed_files, files = [], {}
    for name in sorted(split):
        parts = split[name]
        path = os.path.join(dest, *parts)
        data = contents[name]
        files[name] = hashlib.sha256(data).hexdigest()
        st = None if parts[:-1] in missing else _lstat(path)
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise VaporError("The core file '%s' is %s, not a file; nothing was written." % (path, file_kind(st.st_mode)))
        old = _sha256(path) if st is not None and stat.S_ISREG(st.st_mode) else None
        if old == files[name] and stat.S_IMODE(st.st_mode) == mode:
            continue
        changed_files.append(name)
        if st is not None:
            before.append('%s (%s%s)' % (_rel(parts), 'sha256 %s, ' % old[:12] if old else '', _state(st)))
        after.append('%s (sha256 %s, mode %04o)' % (_rel(parts), files[name][:12], mode))

    package = sorted([_rel(d) for d in make_dirs + chmod_dirs] + [_rel(i) for i in write_inits + chmod_inits])
    result = dict(changed=bool(make_dest or package or changed_files), changed_files=changed_files,
                  package_changed=package, files=files, diff=_diff(dest, before, after))
    if check_mode or not result['changed']:
        return result

    # 2. write what differs
    for path in make_dest:
        _mkdir(path)
    for d in make_dirs:
        _mkdir(os.path.join(dest, *d))
    for d in chmod_dirs:
        _chmod(os.path.join(dest, *d), DIR_MODE, 'The directory', directory=True)
    for init in write_inits:
        write_private(os.path.join(dest, *init), b'', 'The package file', mode=mode)
    for init in chmod_inits:
        _chmod(os.path.join(dest, *init), mode, 'The package file')
    for name in changed_files:
        write_private(os.path.join(dest, *split[name]), contents[name], 'The core file', mode=mode)
    return result


def _missing_parents(dest):
    """``dest`` and those of its parents that do not exist, outermost first."""
    out = []
    path = dest
    while True:
        try:
            os.stat(path)
            break
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise VaporError("The directory '%s' cannot be examined: %s." % (path, exc.strerror or exc))
        out.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return out[::-1]


def _mkdir(path):
    try:
        os.mkdir(path, DIR_MODE)
    except OSError as exc:
        raise VaporError("The directory '%s' cannot be created: %s." % (path, exc.strerror or exc))
    _chmod(path, DIR_MODE, 'The directory', directory=True)    # whatever the umask, never through a link


def _chmod(path, mode, label, directory=False):
    """Set the mode of a file or directory of the tree, never through a link (one put there after the look)."""
    try:
        done = chmod_nofollow(path, mode, directory=directory)
    except OSError as exc:
        raise VaporError("%s '%s' cannot be given the mode %04o: %s." % (label, path, mode, exc.strerror or exc))
    if not done:
        raise VaporError("%s '%s' changed while the core was installed (it is no longer a %s); it was not followed."
                         % (label, path, 'directory' if directory else 'regular file'))


# -- absent -------------------------------------------------------------------------------------------------------


def remove_tree(dest, files, check_mode=False):
    """Remove what install_tree() put below ``dest`` for the listed core ``files``: each listed file (a regular file
    or a link, never followed), then, deepest first, each directory of the package path that holds nothing else
    afterwards, with its __init__.py. A directory that holds anything else stays, and so do its __init__.py (what
    else is there still imports) and its parents; a link or a non-directory at a directory of the tree is not the
    tree's and stays, untouched. ``dest`` itself is never removed.

    Returns {'changed', 'changed_files': the listed names removed, 'removed': every path removed (relative
    to ``dest``, a directory with a trailing '/'), 'files': {}, 'warnings', 'diff'}. Check mode removes nothing.
    """
    dest = _check_dest(dest)
    split, dirs = plan_names(files)
    result = dict(changed=False, changed_files=[], removed=[], files={}, warnings=[],
                  diff=_diff(dest, [], []))
    if not os.path.isdir(dest):
        return result
    # 1. look at everything first
    real = set()           # the tree's directories that are there, as directories (not links)
    for d in dirs:
        if len(d) > 1 and d[:-1] not in real:
            continue
        path = os.path.join(dest, *d)
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            real.add(d)
        else:
            result['warnings'].append("The directory '%s' of the core's package path is %s, not a directory; it was left "
                                      "as it is." % (path, _kind(st.st_mode)))
    go, lines = set(), {}
    for name in sorted(split):
        parts = split[name]
        if parts[:-1] not in real:
            continue
        path = os.path.join(dest, *parts)
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            go.add(parts)
            lines[parts] = _state(st)
            result['changed_files'].append(name)
        else:
            result['warnings'].append("The core file '%s' is %s, not a file; it was left as it is."
                                      % (path, file_kind(st.st_mode)))
    gone = []
    for d in sorted(real, key=lambda d: (-len(d), d)):
        path = os.path.join(dest, *d)
        try:
            entries = os.listdir(path)
        except OSError as exc:
            raise VaporError("The directory '%s' cannot be listed: %s." % (path, exc.strerror or exc))
        init = d + (INIT,)
        init_st = _lstat(os.path.join(dest, *init)) if INIT in entries else None
        ours = init_st is not None and (stat.S_ISREG(init_st.st_mode) or stat.S_ISLNK(init_st.st_mode))
        left = [e for e in entries if not (d + (e,) in go or d + (e,) in gone or (e == INIT and ours))]
        if left:
            continue
        if ours:
            go.add(init)
            lines[init] = _state(init_st)
        gone.append(d)
    gone_set = set(gone)
    removed = sorted([_rel(p) for p in go] + [_rel(d) + '/' for d in gone_set])
    result.update(changed=bool(removed), removed=removed,
                  diff=_diff(dest, ['%s (%s)' % (_rel(p), lines[p]) for p in go]
                             + ['%s/ (directory)' % _rel(d) for d in gone_set], []))
    if check_mode:
        return result

    # 2. remove: the files, then the directories, deepest first (gone is in that order)
    for parts in sorted(go, key=lambda p: (-len(p), p)):
        path = os.path.join(dest, *parts)
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise VaporError("The file '%s' cannot be removed: %s." % (path, exc.strerror or exc))
    kept = []
    for d in gone:
        if any(k[:len(d)] == d for k in kept):
            continue        # the parent of a directory that stays
        path = os.path.join(dest, *d)
        try:
            os.rmdir(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise VaporError("The directory '%s' cannot be removed: %s." % (path, exc.strerror or exc))
            # something was put there meanwhile: it stays, and so do its parents
            result['warnings'].append("The directory '%s' was left: something was put in it while the core was "
                                      "removed." % path)
            kept.append(d)
    if kept:
        stay = set(_rel(k[:i]) + '/' for k in kept for i in range(1, len(k) + 1))
        result['removed'] = [p for p in result['removed'] if p not in stay]
    return result


# -- the module's core ----------------------------------------------------------------------------------------------


def install_core(params, check_mode=False):
    """The vapor.ops.install_core module's job: install_tree() for state=present (the contents decoded and checked
    first), remove_tree() for state=absent."""
    p = INSTALL_CORE.merge(params)
    mode = file_mode(p.get('mode'))
    if p['state'] == 'absent':
        return remove_tree(p['dest'], p['files'], check_mode=check_mode)
    plan_names(p['files'])
    return install_tree(p['dest'], decode_contents(p['files'], p.get('contents')), mode=mode, check_mode=check_mode)
