# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What a run writes, and how: the modes of run directories and files (paths in the lists can name users), new
# files and directories, and the one sentence for a directory that cannot be written.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import io
import json
import os
import tempfile

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

DIR_MODE = 0o750                   # run directories, OUTPUT_DIR itself when created (less the umask)
FILE_MODE = 0o640                  # lists, stats.json, the lock (less the umask): paths can name users

# the sentences of the output_dir gate (gates.py); CANNOT_WRITE also for any directory a run writes to
NOT_A_DIRECTORY = "The output_dir '%s' is not a directory; give the directory the runs are written to."
CANNOT_WRITE = "The %s '%s' cannot be written: %s."


def cannot_write(option, where, exc):
    """The one sentence for a directory (named by its option) that cannot be written."""
    return VaporError(CANNOT_WRITE % (option, where, getattr(exc, 'strerror', None) or exc))


def create_file(path, binary=False):
    """A new file of mode FILE_MODE (less the umask), opened for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    if binary:
        return os.fdopen(fd, 'wb')
    return io.open(fd, 'w', encoding='utf-8', errors='surrogatepass', newline='\n')


def umask_mode(mode):
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def prepare_output_dir(output_dir, check_mode):
    """OUTPUT_DIR must be a directory (created, mode DIR_MODE, when missing and not in check mode)."""
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise VaporError(NOT_A_DIRECTORY % output_dir)
    if check_mode:
        return
    try:
        os.makedirs(output_dir, DIR_MODE)
    except OSError as exc:
        if exc.errno != errno.EEXIST or not os.path.isdir(output_dir):
            raise cannot_write('output_dir', output_dir, exc)


def new_dir(parent, prefix, suffix, option):
    """A new private directory in parent (created if missing), or one sentence naming the option."""
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent, DIR_MODE)
        return tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
    except (OSError, IOError) as exc:
        raise cannot_write(option, parent, exc)


class Writing:
    """OSError while writing the lists, the confirmation or stats.json -> one sentence naming the directory."""

    def __init__(self, target, option, p):
        self.target, self.option, self.p = target, option, p

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, (OSError, IOError)):
            return False
        if self.option == 'output_dir':
            where = self.p['output_dir']
        else:
            where = self.p.get('temp_dir') or os.path.dirname(self.target)
        raise cannot_write(self.option, where, exc)


def write_json(path, data):
    with create_file(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write('\n')
