# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The file catalog's schema: the LFC / DPM-DPNS namespace tables (Cns_*, schema 3.2.0) as SQLite creates them
# (the same tables, columns and keys as MySQL/MariaDB's cns_db), the constants of its columns (file modes,
# replica status) and the helpers that read them (mode_string, checksum_of, normalise_group).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sqlite3
import time

from ansible_collections.vapor.ops.plugins.module_utils._clients.db import connect_sqlite
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32, xattr_adler32

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
AVAILABLE = '-'

BACKENDS = ('sqlite', 'mysql')

# the schema, for SQLite: the same tables, columns and keys as lcgdm's Cns_mysql_tbl.sql 3.2.0

SCHEMA_VERSION = (3, 2, 0)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS Cns_class_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, classid INTEGER, name VARCHAR(15), owner_uid INTEGER, gid INTEGER,
    min_filesize INTEGER, max_filesize INTEGER, flags INTEGER, maxdrives INTEGER, max_segsize INTEGER,
    migr_time_interval INTEGER, mintime_beforemigr INTEGER, nbcopies INTEGER, nbdirs_using_class INTEGER,
    retenp_on_disk INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_class_metadata_classid ON Cns_class_metadata (classid);
CREATE UNIQUE INDEX IF NOT EXISTS classname ON Cns_class_metadata (name);
CREATE TABLE IF NOT EXISTS Cns_file_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, fileid BIGINT UNSIGNED, parent_fileid BIGINT UNSIGNED, guid CHAR(36),
    name VARCHAR(255), filemode INTEGER, nlink INTEGER, owner_uid INTEGER, gid INTEGER, filesize BIGINT,
    atime INTEGER, mtime INTEGER, ctime INTEGER, fileclass SMALLINT, status CHAR(1), csumtype VARCHAR(2),
    csumvalue VARCHAR(32), acl BLOB, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_file_metadata_fileid ON Cns_file_metadata (fileid);
CREATE UNIQUE INDEX IF NOT EXISTS file_full_id ON Cns_file_metadata (parent_fileid, name);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_file_metadata_guid ON Cns_file_metadata (guid);
CREATE INDEX IF NOT EXISTS PARENT_FILEID_IDX ON Cns_file_metadata (parent_fileid);
CREATE TABLE IF NOT EXISTS Cns_user_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    u_fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), comments VARCHAR(255));
CREATE UNIQUE INDEX IF NOT EXISTS Cns_user_metadata_u_fileid ON Cns_user_metadata (u_fileid);
CREATE TABLE IF NOT EXISTS Cns_symlinks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), linkname BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_symlinks_fileid ON Cns_symlinks (fileid);
CREATE INDEX IF NOT EXISTS linkname_idx ON Cns_symlinks (linkname);
CREATE TABLE IF NOT EXISTS Cns_file_replica (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), nbaccesses BIGINT, ctime INTEGER, atime INTEGER,
    ptime INTEGER, ltime INTEGER, r_type CHAR(1), status CHAR(1), f_type CHAR(1), setname VARCHAR(36),
    poolname VARCHAR(15), host VARCHAR(63), fs VARCHAR(79), sfn BLOB, xattr TEXT);
CREATE INDEX IF NOT EXISTS Cns_file_replica_fileid ON Cns_file_replica (fileid);
CREATE INDEX IF NOT EXISTS Cns_file_replica_host ON Cns_file_replica (host);
CREATE INDEX IF NOT EXISTS Cns_file_replica_sfn ON Cns_file_replica (sfn);
CREATE TABLE IF NOT EXISTS Cns_groupinfo (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, gid INTEGER, groupname VARCHAR(255), banned INTEGER, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_groupinfo_groupname ON Cns_groupinfo (groupname);
CREATE TABLE IF NOT EXISTS Cns_userinfo (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, userid INTEGER, username VARCHAR(255), user_ca VARCHAR(255),
    banned INTEGER, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_userinfo_username ON Cns_userinfo (username);
CREATE TABLE IF NOT EXISTS Cns_unique_id (id BIGINT UNSIGNED);
CREATE TABLE IF NOT EXISTS Cns_unique_gid (id INTEGER);
CREATE TABLE IF NOT EXISTS Cns_unique_uid (id INTEGER);
CREATE TABLE IF NOT EXISTS schema_version (major INTEGER NOT NULL, minor INTEGER NOT NULL, patch INTEGER NOT NULL);
"""


def normalise_group(name):
    """A VO/FQAN as LFC/DPM stores it in Cns_groupinfo: no leading '/', no /Role=NULL or /Capability=NULL."""
    name = (name or '').strip()
    for tail in ('/Capability=NULL', '/Role=NULL'):
        if name.endswith(tail):
            name = name[:-len(tail)]
    name = name.replace('/Role=NULL/', '/')
    return name.lstrip('/')


def checksum_of(entry):
    """The adler32 of an entry (csumtype AD, or DOME's checksum.adler32 xattr), or None."""
    if entry.csumtype == 'AD' and entry.csumvalue:
        return normalise_adler32(entry.csumvalue)
    return xattr_adler32(entry.xattr)


def is_kind(mode, kind):
    """Whether a file mode is of this kind (S_IFDIR, S_IFREG, S_IFLNK)."""
    return (int(mode or 0) & S_IFMT) == kind


def mode_string(mode):
    kinds = {S_IFDIR: 'd', S_IFREG: '-', S_IFLNK: 'l'}
    out = [kinds.get(int(mode) & S_IFMT, '?')]
    for shift in (6, 3, 0):
        bits = (int(mode) >> shift) & 7
        out.append('r' if bits & 4 else '-')
        out.append('w' if bits & 2 else '-')
        out.append('x' if bits & 1 else '-')
    return ''.join(out)


def create_sqlite_catalog(path):
    """Create (or complete) an SQLite catalog: the schema, the root '/' and schema_version 3.2.0.

    Idempotent; returns True when something was created.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise VaporError("The directory '%s' of the SQLite catalog does not exist." % parent)
    existed = os.path.exists(path)
    try:
        conn = connect_sqlite(path)
    except sqlite3.Error as exc:
        raise VaporError("The SQLite catalog '%s' cannot be opened: %s." % (path, exc))
    changed = not existed
    try:
        try:
            before = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            conn.executescript(SQLITE_SCHEMA)
            after = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            changed = changed or after != before
            conn.execute('BEGIN IMMEDIATE')
            if conn.execute('SELECT COUNT(*) FROM schema_version').fetchone()[0] == 0:
                conn.execute('INSERT INTO schema_version (major, minor, patch) VALUES (?, ?, ?)', SCHEMA_VERSION)
                changed = True
            if conn.execute('SELECT COUNT(*) FROM Cns_file_metadata WHERE parent_fileid = 0').fetchone()[0] == 0:
                row = conn.execute('SELECT id FROM Cns_unique_id').fetchone()
                fileid = (int(row[0]) if row and row[0] is not None else 0) + 1
                if row is None:
                    conn.execute('INSERT INTO Cns_unique_id (id) VALUES (?)', (fileid,))
                else:
                    conn.execute('UPDATE Cns_unique_id SET id = ?', (fileid,))
                now = int(time.time())
                conn.execute('INSERT INTO Cns_file_metadata (fileid, parent_fileid, guid, name, filemode, nlink, '
                             'owner_uid, gid, filesize, atime, mtime, ctime, fileclass, status, csumtype, csumvalue, '
                             'acl, xattr) VALUES (?, 0, NULL, ?, ?, 0, 0, 0, 0, ?, ?, ?, 0, ?, ?, ?, NULL, NULL)',
                             (fileid, '/', S_IFDIR | 0o755, now, now, now, AVAILABLE, '', ''))
                changed = True
            conn.execute('COMMIT')
        except sqlite3.Error as exc:
            try:
                conn.execute('ROLLBACK')
            except sqlite3.Error:
                pass
            raise VaporError("The SQLite catalog '%s' cannot be created: %s." % (path, exc))
    finally:
        conn.close()
    return changed
