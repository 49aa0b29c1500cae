# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Namespace-database scanners: DPM/DPNS (Cns_file_metadata on MySQL/MariaDB) and dCache Chimera
# (t_inodes/t_dirs/t_inodes_checksum on PostgreSQL).
#
# Both load the directories first (fileid -> parent, name), resolve every directory's path once
# (so a directory moved under a newer parent, numbered after its children, still resolves), keep
# only the directories under the roots, and then stream the files through a server-side cursor.
# Memory grows with the number of directories in scope, never with the number of files.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import re
import time
import traceback

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError, normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dumpfmt import normalise_adler32

MYSQL_IMP_ERR = None
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
    MYSQL_IMP_ERR = traceback.format_exc()

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

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
CHIMERA_ROOT_PNFSID = '000000000000000000000000000000000000'
FETCH = 2000
_HEX8 = re.compile('[0-9a-f]{8}').fullmatch
_CMS_TAIL_END = re.compile(r'\|(?:[0-9a-f]{8}|N/A)\n').findall


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


def _where(db):
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
        raise VaporError("The database %s refused the connection of user '%s': %s."
                         % (_where(db), db['user'], _exc_text(exc)))
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
        raise VaporError("The database %s refused the connection of user '%s': %s."
                         % (_where(db), db['user'], _exc_text(exc)))
    raise VaporError("No PostgreSQL driver is importable; install python3-psycopg2 or psycopg.")


def _exc_text(exc):
    text = str(exc).strip().replace('\n', ' ')
    if isinstance(getattr(exc, 'args', None), tuple) and len(exc.args) == 2 and isinstance(exc.args[1], str):
        text = exc.args[1]
    return text.rstrip('.')


@contextlib.contextmanager
def _reading(conn, settings):
    """Read a namespace: any driver error becomes one sentence naming the database; the connection is closed."""
    try:
        yield
    except VaporError:
        raise
    except Exception as exc:  # each driver has its own exception tree
        raise VaporError("Reading the namespace from the database %s failed: %s." % (_where(settings), _exc_text(exc)))
    finally:
        conn.close()


def resolve_dirs(rows, root_id, roots):
    """Directory rows (id, parent, name) -> {id: (path, root_idx)} for the directories under a root.

    ``root_id`` is the namespace root's id (its path is '').
    """
    parent = {}
    for fid, pid, name in rows:
        parent[fid] = (pid, name)
    path = {root_id: ''}
    for fid in parent:
        if fid in path:
            continue
        chain = []
        cur = fid
        while cur not in path:
            entry = parent.get(cur)
            if entry is None or len(chain) > 4096:
                break
            chain.append(cur)
            cur = entry[0]
        if cur not in path:
            for c in chain:
                path[c] = None      # orphan or loop: never in scope
            continue
        base = path[cur]
        for c in reversed(chain):
            base = None if base is None else base + '/' + parent[c][1]
            path[c] = base
    del parent
    prefixes = [(i, r.rstrip('/')) for i, r in enumerate(roots)]
    scope = {}
    for fid, p in path.items():
        if p is None:
            continue
        full = p or '/'
        for i, r in prefixes:
            if r in ('', '/') or full == r or full.startswith(r + '/'):
                scope[fid] = (p, i)
                break
    return scope


def _cursor_rows(cur):
    while True:
        rows = cur.fetchmany(FETCH)
        if not rows:
            break
        yield from rows


def _text(v):
    if isinstance(v, bytes):
        return v.decode('utf-8', 'surrogateescape')
    return v


def scan_dpm(sink, db, roots, durations=None):
    roots = [normalise_path(r) for r in (roots or ['/'])]
    t0 = time.time()
    conn, sscursor, settings = connect_mysql(db)
    with _reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT * FROM Cns_file_metadata LIMIT 0")
            cols = [d[0].lower() for d in cur.description]
            cur.execute("SELECT fileid FROM Cns_file_metadata WHERE parent_fileid = 0")
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable DPNS namespace (Cns_file_metadata): %s."
                             % (_where(settings), _exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no namespace root (no Cns_file_metadata row with parent_fileid 0)."
                             % _where(settings))
        root_id = row[0]
        cur.close()
        scur = conn.cursor(sscursor)
        scur.execute("SELECT fileid, parent_fileid, name FROM Cns_file_metadata "
                     "WHERE (filemode & %d) = %d AND parent_fileid <> 0" % (S_IFMT, S_IFDIR))
        scope = resolve_dirs(((r[0], r[1], _text(r[2])) for r in _cursor_rows(scur)), root_id, roots)
        scur.close()
        _check_roots(scope, roots, settings)
        has_xattr = 'xattr' in cols
        fmt = sink.preformat()
        scur = conn.cursor(sscursor)
        if fmt is not None:
            _dpm_preformatted(sink, scur, scope, fmt, has_xattr, len(roots))
        else:
            _dpm_rows(sink, scur, scope, has_xattr, len(roots))
        scur.close()
    if durations is not None:
        durations.extend([round(time.time() - t0, 3)] * len(roots))


def _dpm_rows(sink, scur, scope, has_xattr, nroots):
    """Every file row through the sink's mapping, filters and formatter (add_many per fetch)."""
    # the checksum columns are only shipped when they can matter: csumvalue for adler32 rows,
    # the xattr JSON (DOME) only for rows without a legacy adler32
    scur.execute("SELECT parent_fileid, name, filesize, mtime, IF(csumtype = 'AD', csumvalue, NULL)%s "
                 "FROM Cns_file_metadata WHERE (filemode & %d) = %d"
                 % (", IF(csumtype = 'AD' AND csumvalue IS NOT NULL, NULL, xattr)" if has_xattr else ", NULL",
                    S_IFMT, S_IFREG))
    get = scope.get
    hex8 = _HEX8
    while True:
        rows = scur.fetchmany(FETCH)
        if not rows:
            break
        batches = [[] for _i in range(nroots)]
        for pid, name, size, mtime, csum, xattr in rows:
            d = get(pid)
            if d is None:
                continue
            if name.__class__ is not str:
                name = _text(name)
            if csum is not None:
                if csum.__class__ is not str or hex8(csum) is None:
                    csum = normalise_adler32(_text(csum))
            elif xattr:
                csum = normalise_adler32(_xattr_adler32(_text(xattr)))
            batches[d[1]].append((d[0] + '/' + name, int(size or 0), mtime, csum))
        for i, batch in enumerate(batches):
            if batch:
                sink.add_many(i, batch)
    scur.close()


def _dpm_preformatted(sink, scur, scope, fmt, has_xattr, nroots):
    """The database formats each record's tail ('name|size|mtime|adler32\\n' or 'name\\n'); Python
    prepends the (mapped) directory path, checks each fetched chunk at once and writes it in one
    piece. A chunk with anything unusual (a name holding a line break, or '|' in cms; a checksum
    that is not 8 lowercase hex digits) goes through add_many() row by row; rows whose checksum
    is only in the DOME xattr always do.
    """
    cms = fmt == 'cms'
    if cms:
        tail = ("CONCAT(name, '|', IFNULL(filesize, 0), '|', IFNULL(mtime, 0), '|', "
                "IF(csumtype = 'AD', IFNULL(csumvalue, '?'), 'N/A'), '\\n')")
    else:
        tail = "CONCAT(name, '\\n')"
    # the xattr only where it can matter (no legacy adler32); a non-canonical adler32 comes as '?value'
    scur.execute("SELECT parent_fileid, %s, filesize, %s FROM Cns_file_metadata WHERE (filemode & %d) = %d"
                 % (tail, "IF(csumtype = 'AD' AND csumvalue IS NOT NULL, NULL, xattr)" if has_xattr and cms else "NULL",
                    S_IFMT, S_IFREG))
    dirs = {}
    for fid, (path, idx) in scope.items():
        dirs[fid] = (sink.map_dir(path), idx, path)
    get = dirs.get
    c = sink.c
    one = nroots == 1
    while True:
        rows = scur.fetchmany(FETCH)
        if not rows:
            break
        recs = [[] for _i in range(nroots)]
        sizes = [0] * nroots
        odd = False
        outside = 0
        for row in rows:
            d = get(row[0])
            if d is None:
                continue
            if d[0] is None:
                outside += 1
                continue
            if row[3] is not None:
                odd = True          # a checksum in the xattr JSON: this chunk goes row by row
                break
            i = 0 if one else d[1]
            recs[i].append(d[0] + row[1])
            sizes[i] += row[2] or 0
        if not odd:
            # every tail of the chunk at once: one line each; in cms, exactly the three separators and
            # a canonical checksum (8 lowercase hex digits or N/A) at the end of every line
            tails = ''.join([row[1] for row in rows])
            n = len(rows)
            if (tails.count('\n') != n or '\r' in tails
                    or (cms and (tails.count('|') != 3 * n or len(_CMS_TAIL_END(tails)) != n))):
                odd = True
        if odd:
            _dpm_rows_preformatted(sink, rows, dirs, cms, nroots)
            continue
        c['outside'] += outside
        for i in range(nroots):
            if recs[i]:
                sink.add_text(i, ''.join(recs[i]), len(recs[i]), sizes[i])
    scur.close()


def _dpm_rows_preformatted(sink, rows, dirs, cms, nroots):
    """The rows of one chunk of _dpm_preformatted, one by one through add_many()."""
    batches = [[] for _i in range(nroots)]
    for pid, tail, size, xattr in rows:
        d = dirs.get(pid)
        if d is None:
            continue
        if cms:
            name, _s, mtime, csum = tail[:-1].rsplit('|', 3)
            mtime = int(mtime)
            if xattr is not None:           # no legacy adler32 (or a NULL one): the DOME xattr
                csum = normalise_adler32(_xattr_adler32(_text(xattr)))
            elif csum == 'N/A' or csum == '?':
                csum = None
            else:
                csum = normalise_adler32(csum)
        else:
            name, mtime, csum = tail[:-1], None, None
        batches[d[1]].append((d[2] + '/' + name, int(size or 0), mtime, csum))
    for i, batch in enumerate(batches):
        if batch:
            sink.add_many(i, batch)


def _xattr_adler32(text):
    if 'adler32' not in text:
        return None
    try:
        return json.loads(text).get('checksum.adler32')
    except (ValueError, AttributeError):
        return None


def _check_roots(scope, roots, settings):
    seen = set(i for _p, i in scope.values())
    for i, r in enumerate(roots):
        if i not in seen and r != '/':
            raise VaporError("The root '%s' is not a directory in the namespace of the database %s."
                             % (r, _where(settings)))


def scan_dcache(sink, db, roots, durations=None):
    roots = [normalise_path(r) for r in (roots or ['/'])]
    t0 = time.time()
    conn, settings = connect_pg(db)
    with _reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT inumber FROM t_inodes WHERE ipnfsid = %s", (CHIMERA_ROOT_PNFSID,))
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable Chimera namespace (t_inodes): %s."
                             % (_where(settings), _exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no Chimera root inode (pnfsid %s)." % (_where(settings), CHIMERA_ROOT_PNFSID))
        root_id = row[0]
        cur.close()
        scur = conn.cursor(name='vapor_dirs')
        scur.itersize = FETCH
        scur.execute("SELECT d.ichild, d.iparent, d.iname FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
                     "WHERE i.itype = 16384 AND d.iname NOT IN ('.', '..') AND d.ichild <> d.iparent")
        scope = resolve_dirs(_cursor_rows(scur), root_id, roots)
        scur.close()
        _check_roots(scope, roots, settings)
        scur = conn.cursor(name='vapor_files')
        scur.itersize = FETCH
        scur.execute("SELECT d.iparent, d.iname, i.isize, CAST(EXTRACT(EPOCH FROM i.imtime) AS BIGINT), c.isum "
                     "FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
                     "LEFT JOIN t_inodes_checksum c ON c.inumber = d.ichild AND c.itype = 1 "
                     "WHERE i.itype = 32768")
        add = sink.add
        for row in _cursor_rows(scur):
            d = scope.get(row[0])
            if d is None:
                continue
            add(d[1], d[0] + '/' + row[1], int(row[2] or 0), row[3], normalise_adler32(row[4]))
        scur.close()
        conn.rollback()
    if durations is not None:
        durations.extend([round(time.time() - t0, 3)] * len(roots))
