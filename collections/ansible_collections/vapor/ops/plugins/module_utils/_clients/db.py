# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Database clients (MySQL/MariaDB, PostgreSQL, SQLite): the driver import guards, the connection settings
# (options, DPM/LFC NSCONFIG files, defaults), the connections, one sentence for a failed connection, and the
# connection options every job that reads a database shares, declared once. Used by the DPM and dCache
# scanners (_storage/dpm.py, _storage/dcache.py) and the file catalog (_catalog/access.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import sqlite3

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

try:
    import MySQLdb
    import MySQLdb.cursors
    HAS_MYSQLDB = True
except ImportError:
    MySQLdb = None
    HAS_MYSQLDB = False
try:
    import pymysql
    import pymysql.cursors
    HAS_PYMYSQL = True
except ImportError:
    pymysql = None
    HAS_PYMYSQL = False

try:
    import psycopg
    HAS_PSYCOPG = True
except ImportError:
    psycopg = None
    HAS_PSYCOPG = False
try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    psycopg2 = None
    HAS_PSYCOPG2 = False

# what a module names with missing_required_lib when a MySQL catalog has no driver
HAS_MYSQL = HAS_MYSQLDB or HAS_PYMYSQL
MYSQL_REQUIREMENT = 'PyMySQL or mysqlclient (python3-mysqlclient on EL, python3-mysqldb on Debian)'
HAS_PG = HAS_PSYCOPG or HAS_PSYCOPG2
PG_REQUIREMENT = 'psycopg or psycopg2 (python3-psycopg2 on EL and Debian)'


def read_nsconfig(path):
    """DPM/LFC NSCONFIG or DPMCONFIG file: '<user>/<password>@<host>[/<database>]'."""
    try:
        with open(path) as f:
            line = f.readline().strip()
    except (IOError, OSError) as exc:
        raise VaporError("The database configuration file '%s' cannot be read: %s." % (path, exc.strerror or exc))
    if '/' not in line or '@' not in line:
        raise VaporError("The database configuration file '%s' is not of the form user/password@host[/database]." % path)
    cred, _at, hostpart = line.rpartition('@')
    user, _sl, password = cred.partition('/')
    host, _sl, database = hostpart.partition('/')
    out = {'user': user, 'password': password, 'host': host}
    if database:
        out['database'] = database
    return out


def db_settings(db, default_port, default_db):
    db = dict((k, v) for k, v in (db or {}).items() if v is not None)
    if db.get('config_file'):
        merged = read_nsconfig(db['config_file'])
        merged.update(dict((k, v) for k, v in db.items() if k != 'config_file'))
        db = merged
    db.setdefault('host', 'localhost')
    db.setdefault('port', default_port)
    db.setdefault('database', default_db)
    db.setdefault('connect_timeout', 30)
    if not db.get('user'):
        raise VaporError("The database connection has no user; set db.user or db.config_file.")
    return db


def db_where(db):
    if db.get('unix_socket'):
        return "'%s' on socket %s" % (db['database'], db['unix_socket'])
    return "'%s' on %s:%s" % (db['database'], db['host'], db['port'])


def connect_mysql(db):
    """(connection, server-side cursor class) with MySQLdb (C, fast) or PyMySQL."""
    db = db_settings(db, 3306, 'cns_db')
    kw = dict(host=db['host'], port=int(db['port']), user=db['user'], passwd=db.get('password') or '',
              db=db['database'], connect_timeout=int(db['connect_timeout']), charset='utf8mb4')
    if db.get('unix_socket'):
        kw['unix_socket'] = db['unix_socket']
    try:
        if HAS_MYSQLDB:
            conn = MySQLdb.connect(**kw)
            return conn, MySQLdb.cursors.SSCursor, db
        if HAS_PYMYSQL:
            kw['password'] = kw.pop('passwd')
            kw['database'] = kw.pop('db')
            conn = pymysql.connect(**kw)
            return conn, pymysql.cursors.SSCursor, db
    except Exception as exc:  # each driver has its own exception tree
        raise connect_error(exc, db)
    raise VaporError("No MySQL driver is importable; install python3-mysqlclient (EL), python3-mysqldb (Debian) "
                     "or PyMySQL.")


def connect_pg(db):
    db = db_settings(db, 5432, 'chimera')
    kw = dict(host=db.get('unix_socket') or db['host'], port=int(db['port']), user=db['user'],
              password=db.get('password') or '', dbname=db['database'], connect_timeout=int(db['connect_timeout']))
    try:
        if HAS_PSYCOPG:
            return psycopg.connect(**kw), db
        if HAS_PSYCOPG2:
            return psycopg2.connect(**kw), db
    except Exception as exc:
        raise connect_error(exc, db)
    raise VaporError("No PostgreSQL driver is importable; install python3-psycopg2 or psycopg.")


# Why a connection failed, from the MySQL client error codes and the PostgreSQL SQLSTATEs, with the
# server's own words as the fallback (libpq reports a failed connection with no SQLSTATE).
_MYSQL_UNREACHABLE = (2002, 2003, 2005, 2006, 2013, 2026, 2055)
_MYSQL_AUTH = (1045, 1698, 1251, 2059, 2061)
_MYSQL_NO_DB_ACCESS = (1044,)
_MYSQL_UNKNOWN_DB = (1049,)
_PG_UNREACHABLE = ('could not connect', 'connection refused', 'could not translate host name', 'timeout expired',
                   'no route to host', 'network is unreachable', 'no such file or directory',
                   'server closed the connection', 'the database system is starting up',
                   'the database system is shutting down', 'name or service not known')
_PG_AUTH = ('password authentication failed', 'authentication failed', 'no pg_hba.conf entry', 'no password supplied',
            'password is required')


def _server(db):
    if db.get('unix_socket'):
        return 'on the socket %s' % db['unix_socket']
    return 'at %s:%s' % (db['host'], db['port'])


def connect_error(exc, db):
    """One sentence for a failed connection: server unreachable, login refused, unknown database, or no
    access to it. Never shows the password."""
    text = exc_text(exc)
    low = text.lower()
    code = exc.args[0] if getattr(exc, 'args', None) and isinstance(exc.args[0], int) else None
    sqlstate = getattr(exc, 'sqlstate', None) or getattr(exc, 'pgcode', None)
    user, name, server = db['user'], db['database'], _server(db)
    if code in _MYSQL_UNREACHABLE or (code is None and sqlstate is None and any(k in low for k in _PG_UNREACHABLE)):
        return VaporError("The database server %s cannot be reached (is it running, and are host and port right?): "
                          "%s." % (server, text))
    if code in _MYSQL_UNKNOWN_DB or sqlstate == '3D000' or ('database "%s" does not exist' % name) in low:
        return VaporError("The database '%s' does not exist on the server %s." % (name, server))
    if code in _MYSQL_NO_DB_ACCESS:      # MySQL says the same of a database that does not exist
        return VaporError("The database '%s' on the server %s does not exist, or the user '%s' may not use it: %s."
                          % (name, server, user, text))
    if (sqlstate == '42501' and 'database' in low) or 'permission denied for database' in low:
        return VaporError("The user '%s' may not use the database '%s' on the server %s: %s."
                          % (user, name, server, text))
    if code in _MYSQL_AUTH or sqlstate in ('28P01', '28000') or any(k in low for k in _PG_AUTH) or \
            ('role "%s" does not exist' % user.lower()) in low:
        return VaporError("The database %s refused the connection of user '%s': %s." % (db_where(db), user, text))
    return VaporError("The connection to the database %s as user '%s' failed: %s." % (db_where(db), user, text))


def exc_text(exc):
    """The driver's message on one line: MySQL's (code, message) message, or a PostgreSQL message without
    its LINE/HINT/caret continuation lines."""
    if isinstance(getattr(exc, 'args', None), tuple) and len(exc.args) == 2 and isinstance(exc.args[1], str):
        text = exc.args[1]
    else:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        text = lines[0] if lines else repr(exc)
        m = _PG_CONNECT_HEAD.match(text)
        if m:
            text = m.group(1)
        if text.startswith('FATAL:'):
            text = text[len('FATAL:'):]
    return ' '.join(text.split()).rstrip('.')


# libpq: 'connection failed: connection to server at "HOST", port N failed: CAUSE' (psycopg 3) and
# 'connection to server at ... failed: CAUSE' (psycopg2); the server address is in the sentence already
_PG_CONNECT_HEAD = re.compile(r'^(?:connection failed: )?connection to server (?:at|on) .*? failed: (.+)$')


def connect_sqlite(path):
    """An SQLite connection in autocommit mode (transactions are explicit), foreign keys enforced."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute('PRAGMA foreign_keys = ON')
    return conn


def connection_suboptions(host_default=None):
    """The suboptions of a database connection (the se_dump 'db' option, the catalog's MySQL settings)."""
    return dict(
        host=dict(type='str', default=host_default),
        port=dict(type='int'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        database=dict(type='str'),
        unix_socket=dict(type='path'),
        config_file=dict(type='path'),
        connect_timeout=dict(type='int', default=30),
    )


def connection_option(name, host_default=None, **extra):
    """An OptionSpec of one dict option holding a database connection."""
    spec = dict(type='dict', options=connection_suboptions(host_default))
    spec.update(extra)
    if spec['options']['host']['default'] is None:
        del spec['options']['host']['default']
    return OptionSpec({name: spec})
