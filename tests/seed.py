# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fill the real catalogue databases with namespaces: DPM (MariaDB) and dCache Chimera (PostgreSQL).

Both seeders take any iterable of file tuples (a generator is fine: it is consumed
once, in chunks) and bulk-load the rows (``LOAD DATA LOCAL INFILE`` for MariaDB,
``COPY`` for PostgreSQL), so a million entries load in seconds.  Missing parent
directories are created on the way; existing directories (from earlier calls) are
reused.  Ids come from a counter that starts after the largest id in the table;
``dirs`` creates directories with explicit ids first -- give a directory an id
larger than the counter will reach to model a directory that was moved (children
with smaller ids than their parent).

    seed_dpm(mariadb, "cns_db", [("/dpm/example.org/home/vo/f1", 10, 1700000000, "AD", "0a1b2c3d")])
    seed_chimera(postgres, [("/pnfs/example.org/data/vo/f1", 10, 1700000000, "0a1b2c3d")])
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

SQL_DIR = Path(__file__).resolve().parent / "fixtures" / "sql"
CNS_SCHEMA = SQL_DIR / "cns_mysql.sql"
CHIMERA_SCHEMA = SQL_DIR / "chimera_pg.sql"

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
DPM_DIR_MODE = 0o040755   # 16877
DPM_FILE_MODE = 0o100644  # 33188

CHIMERA_ROOT_PNFSID = "0" * 36
CHIMERA_DIR = 16384
CHIMERA_FILE = 32768
CHIMERA_ADLER32 = 1

DEFAULT_CHUNK = 100_000


@dataclass
class SeedResult:
    files: int = 0                                          # files inserted by this call
    dirs_created: int = 0                                   # directories inserted by this call
    dir_ids: dict[str, int] = field(default_factory=dict)   # every known directory -> id
    file_ids: dict[str, int] | None = None                  # only with record_files=True
    max_id: int = 0                                         # largest id in use afterwards
    seconds: float = 0.0


# --------------------------------------------------------------------------------------
# shared path/id bookkeeping
# --------------------------------------------------------------------------------------


def _norm(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"namespace path must be absolute: {path!r}")
    if "//" in path or path.endswith("/") or "/." in path:
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"namespace path must not contain . or ..: {path!r}")
        path = "/" + "/".join(parts)
    return path


class _Tree:
    """Directory path -> id map with an id counter; reports new directories to ``on_dir``."""

    def __init__(self, dirs: dict[str, int], next_id: int,
                 on_dir: Callable[[str, int, int, str], None]):
        self.dirs = dirs
        self.next_id = next_id
        self.used: set[int] = set()
        self.on_dir = on_dir
        self.created = 0

    def alloc(self) -> int:
        i = self.next_id
        while i in self.used:
            i += 1
        self.next_id = i + 1
        return i

    def dir_id(self, path: str) -> int:
        i = self.dirs.get(path)
        if i is not None:
            return i
        parent, _, name = path.rpartition("/")
        pid = self.dir_id(parent or "/")
        i = self.alloc()
        self.dirs[path] = i
        self.created += 1
        self.on_dir(path, i, pid, name)
        return i

    def mkdir_with_id(self, path: str, explicit: int) -> int:
        path = _norm(path)
        if path in self.dirs:
            if self.dirs[path] != explicit:
                raise ValueError(f"directory {path} already exists with id {self.dirs[path]}")
            return explicit
        if explicit in self.used or explicit < 1:
            raise ValueError(f"id {explicit} for {path} is already used or invalid")
        parent, _, name = path.rpartition("/")
        pid = self.dir_id(parent or "/")
        self.used.add(explicit)
        self.dirs[path] = explicit
        self.created += 1
        self.on_dir(path, explicit, pid, name)
        return explicit


def _dirs_from_rows(rows: Iterable[tuple[int, int, str]], root_id: int) -> dict[str, int]:
    """Rebuild directory paths from (id, parent_id, name) rows (any order)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for i, pid, name in rows:
        if i == root_id:
            continue
        children.setdefault(pid, []).append((i, name))
    dirs = {"/": root_id}
    stack = [(root_id, "")]
    while stack:
        pid, ppath = stack.pop()
        for i, name in children.get(pid, ()):
            p = f"{ppath}/{name}"
            dirs[p] = i
            stack.append((i, p))
    return dirs


def _chunks(it: Iterable, n: int) -> Iterator[list]:
    buf: list = []
    for x in it:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv(v: Any) -> str:
    """One field in the text format shared by LOAD DATA and COPY (\\N = NULL)."""
    if v is None:
        return "\\N"
    if isinstance(v, str):
        if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
            return v.translate(_ESC)
        return v
    return str(v)


def _unpack(entry: Any, n: int) -> tuple:
    t = tuple(entry)
    if len(t) < 2 or len(t) > n:
        raise ValueError(f"bad file entry {entry!r}: expected up to {n} fields")
    return t + (None,) * (n - len(t))


# --------------------------------------------------------------------------------------
# DPM (MariaDB, cns_db)
# --------------------------------------------------------------------------------------


def _dpm_guid(fileid: int) -> str:
    return f"{fileid & 0xFFFFFFFF:08x}-{(fileid >> 32) & 0xFFFF:04x}-4000-8000-{fileid & 0xFFFFFFFFFFFF:012x}"


_DPM_COLS = ("fileid, parent_fileid, guid, name, filemode, nlink, owner_uid, gid, filesize, "
             "atime, mtime, ctime, fileclass, status, csumtype, csumvalue, acl, xattr")
_DPM_REPLICA_COLS = ("fileid, nbaccesses, ctime, atime, ptime, ltime, r_type, status, f_type, "
                     "setname, poolname, host, fs, sfn")


def _mysql_has_table(conn, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name = %s", (table,))
        return cur.fetchone()[0] > 0


def _mysql_load(cur, path: str, table: str, cols: str, nrows: int) -> None:
    n = cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols})",
        (path,),
    )
    if n != nrows:
        cur.execute("SHOW WARNINGS LIMIT 5")
        warnings = "; ".join(str(w[2]) for w in cur.fetchall())
        raise RuntimeError(f"seeding {table}: loaded {n} of {nrows} rows ({warnings})")


def seed_dpm(mariadb, dbname: str, files: Iterable[tuple], *,
             dirs: Mapping[str, int] | Iterable[tuple[str, int]] = (),
             root_fileid: int = 1, uid: int = 0, gid: int = 0,
             dir_mtime: int | None = None, xattr_checksums: bool = False,
             replica: tuple[str, str, str] | None = None, dir_nlink: bool = True,
             record_files: bool = False, chunk_size: int = DEFAULT_CHUNK) -> SeedResult:
    """Insert a DPM namespace into ``dbname`` (schema ``cns_mysql.sql`` loaded if missing).

    ``files``: iterable of ``(path, size, mtime, csumtype, csumvalue)``; the last
    two may be omitted or ``None`` (stored as '').  Files get mode 0100644,
    directories 040755, the root is ``(fileid=root_fileid, parent_fileid=0, name='/')``.
    ``dirs``: directories to create first with explicit fileids.
    ``xattr_checksums``: also store DOME's ``{"checksum.adler32": ...}`` xattr for ``AD``.
    ``replica``: ``(host, fs, poolname)`` adds one Cns_file_replica row per file.
    """
    t0 = time.monotonic()
    now = int(time.time())
    dmtime = now if dir_mtime is None else int(dir_mtime)
    conn = mariadb.root_connect(dbname)
    res = SeedResult(file_ids={} if record_files else None)
    tmpdir = tempfile.mkdtemp(prefix="vapor-seed-")
    try:
        if not _mysql_has_table(conn, "Cns_file_metadata"):
            conn.close()
            mariadb.load_sql_file(CNS_SCHEMA, dbname)
            conn = mariadb.root_connect(dbname)
        cur = conn.cursor()
        cur.execute("SELECT fileid, parent_fileid, name FROM Cns_file_metadata "
                    "WHERE filemode & %s = %s", (S_IFMT, S_IFDIR))
        rows = cur.fetchall()
        cur.execute("SELECT COALESCE(MAX(fileid), 0) FROM Cns_file_metadata")
        max_id = int(cur.fetchone()[0])
        roots = [r for r in rows if r[1] == 0]
        meta: list[str] = []
        if roots:
            root_fileid = roots[0][0]
            known = _dirs_from_rows(rows, root_fileid)
        else:
            meta.append("\t".join(_tsv(v) for v in (
                root_fileid, 0, None, "/", DPM_DIR_MODE, 0, uid, gid, 0, dmtime, dmtime, dmtime,
                0, "-", "", "", None, None)) + "\n")
            res.dirs_created += 1
            known = {"/": root_fileid}
            max_id = max(max_id, root_fileid)

        def on_dir(path: str, i: int, pid: int, name: str) -> None:
            meta.append("\t".join(_tsv(v) for v in (
                i, pid, None, name, DPM_DIR_MODE, 0, uid, gid, 0, dmtime, dmtime, dmtime,
                0, "-", "", "", None, None)) + "\n")

        tree = _Tree(known, max_id + 1, on_dir)
        for path, fid in (dirs.items() if isinstance(dirs, Mapping) else dirs):
            tree.mkdir_with_id(path, int(fid))

        mpath = os.path.join(tmpdir, "meta.tsv")
        rpath = os.path.join(tmpdir, "replica.tsv")

        def flush(replicas: list[str]) -> None:
            if not meta:
                return
            with open(mpath, "w", encoding="utf-8") as f:
                f.writelines(meta)
            _mysql_load(cur, mpath, "Cns_file_metadata", _DPM_COLS, len(meta))
            meta.clear()
            if replicas:
                with open(rpath, "w", encoding="utf-8") as f:
                    f.writelines(replicas)
                _mysql_load(cur, rpath, "Cns_file_replica", _DPM_REPLICA_COLS, len(replicas))
                replicas.clear()

        for chunk in _chunks(files, chunk_size):
            replicas: list[str] = []
            for entry in chunk:
                path, size, mtime, ctype, cval = _unpack(entry, 5)
                path = _norm(path)
                parent, _, name = path.rpartition("/")
                pid = tree.dir_id(parent or "/")
                fid = tree.alloc()
                mt = int(mtime) if mtime is not None else now
                xattr = None
                if xattr_checksums and ctype == "AD" and cval:
                    xattr = json.dumps({"checksum.adler32": cval})
                meta.append(f"{fid}\t{pid}\t{_dpm_guid(fid)}\t{_tsv(name)}\t{DPM_FILE_MODE}\t1\t{uid}\t{gid}\t"
                            f"{int(size)}\t{mt}\t{mt}\t{mt}\t0\t-\t{_tsv(ctype or '')}\t{_tsv(cval or '')}"
                            f"\t\\N\t{_tsv(xattr)}\n")
                if replica:
                    host, fs, pool = replica
                    replicas.append("\t".join(_tsv(v) for v in (
                        fid, 0, mt, mt, mt, mt, "P", "-", "P", "", pool, host, fs,
                        f"{host}:{fs}/{fid}")) + "\n")
                if record_files:
                    res.file_ids[path] = fid
                res.files += 1
            flush(replicas)
        flush([])

        max_id = max([max_id, tree.next_id - 1, *tree.used])
        if dir_nlink:
            cur.execute(
                "UPDATE Cns_file_metadata d JOIN (SELECT parent_fileid, COUNT(*) AS n FROM "
                "Cns_file_metadata GROUP BY parent_fileid) c ON c.parent_fileid = d.fileid "
                "SET d.nlink = c.n WHERE d.filemode & %s = %s", (S_IFMT, S_IFDIR))
        cur.execute("DELETE FROM Cns_unique_id")
        cur.execute("INSERT INTO Cns_unique_id (id) VALUES (%s)", (max_id,))
        res.dirs_created += tree.created
        res.dir_ids = tree.dirs
        res.max_id = max_id
    finally:
        conn.close()
        for name in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)
    res.seconds = time.monotonic() - t0
    return res


def dpm_namespace(mariadb, dbname: str) -> dict[str, dict[str, Any]]:
    """Read ``Cns_file_metadata`` back: full path -> row dict, paths rebuilt from parent ids."""
    conn = mariadb.root_connect(dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT fileid, parent_fileid, name, filemode, filesize, mtime, ctime, "
                        "csumtype, csumvalue, guid, nlink, xattr FROM Cns_file_metadata")
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        conn.close()
    by_id = {r["fileid"]: r for r in rows}

    @functools.lru_cache(maxsize=None)
    def path_of(fid: int) -> str:
        r = by_id[fid]
        if r["parent_fileid"] == 0:
            return "/"
        parent = path_of(r["parent_fileid"])
        return parent.rstrip("/") + "/" + r["name"]

    return {path_of(r["fileid"]): r for r in rows}


# --------------------------------------------------------------------------------------
# dCache Chimera (PostgreSQL)
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _pg_ts(epoch: float) -> str:
    s = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(epoch)))
    frac = epoch - int(epoch)
    return f"{s}.{int(round(frac * 1e6)):06d}" if frac else s


def _pnfsid(inumber: int) -> str:
    return f"0000{inumber:032X}"


def _pg_has_table(conn, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def seed_chimera(postgres, files: Iterable[tuple], *, dbname: str | None = None,
                 dirs: Mapping[str, int] | Iterable[tuple[str, int]] = (),
                 uid: int = 0, gid: int = 0, dir_mtime: float | None = None,
                 location: str | None = "pool1", record_files: bool = False,
                 chunk_size: int = DEFAULT_CHUNK) -> SeedResult:
    """Insert a Chimera namespace into ``dbname`` (default: the server's ``chimera`` database).

    ``files``: iterable of ``(path, size, mtime_epoch, adler32_or_None)``.  Rows:
    ``t_inodes`` (directories itype 16384 mode 0755, files 32768 mode 0644, pnfsid
    ``0000`` + 32 hex digits of the inumber), ``t_dirs``, ``t_inodes_checksum``
    (itype 1) and, unless ``location`` is None, one disk ``t_locationinfo`` row per
    file.  The schema (``chimera_pg.sql``, with the root inode) is loaded if missing.
    """
    t0 = time.monotonic()
    dbname = dbname or postgres.database
    now = time.time()
    dts = _pg_ts(float(dir_mtime if dir_mtime is not None else int(now)))
    res = SeedResult(file_ids={} if record_files else None)
    with postgres.root_connect(dbname) as conn:
        if not _pg_has_table(conn, "t_inodes"):
            postgres.load_sql_file(CHIMERA_SCHEMA, dbname, as_user=postgres.user)
        root = conn.execute("SELECT inumber FROM t_inodes WHERE ipnfsid = %s",
                            (CHIMERA_ROOT_PNFSID,)).fetchone()
        if root is None:
            raise RuntimeError(f"database {dbname} has no Chimera root inode")
        rows = conn.execute(
            "SELECT d.ichild, d.iparent, d.iname FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
            "WHERE i.itype = %s AND d.iname NOT IN ('.', '..')", (CHIMERA_DIR,)).fetchall()
        max_id = conn.execute("SELECT COALESCE(MAX(inumber), 0) FROM t_inodes").fetchone()[0]
        known = _dirs_from_rows(rows, root[0])

        inodes: list[str] = []
        links: list[str] = []
        sums: list[str] = []
        locs: list[str] = []

        def on_dir(path: str, i: int, pid: int, name: str) -> None:
            inodes.append(f"{i}\t{_pnfsid(i)}\t{CHIMERA_DIR}\t493\t2\t{uid}\t{gid}\t512\t"
                          f"{dts}\t{dts}\t{dts}\t{dts}\t0\n")
            links.append(f"{pid}\t{_tsv(name)}\t{i}\n")

        tree = _Tree(known, max_id + 1, on_dir)
        for path, fid in (dirs.items() if isinstance(dirs, Mapping) else dirs):
            tree.mkdir_with_id(path, int(fid))

        def flush() -> None:
            with conn.transaction():
                with conn.cursor() as cur:
                    for table, cols, buf in (
                        ("t_inodes", "inumber, ipnfsid, itype, imode, inlink, iuid, igid, isize, "
                                     "ictime, iatime, imtime, icrtime, igeneration", inodes),
                        ("t_dirs", "iparent, iname, ichild", links),
                        ("t_inodes_checksum", "inumber, itype, isum", sums),
                        ("t_locationinfo", "inumber, itype, ilocation, ipriority, ictime, iatime, istate", locs),
                    ):
                        if buf:
                            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                                cp.write("".join(buf))
                            buf.clear()

        for chunk in _chunks(files, chunk_size):
            for entry in chunk:
                path, size, mtime, adler = _unpack(entry, 4)
                path = _norm(path)
                parent, _, name = path.rpartition("/")
                pid = tree.dir_id(parent or "/")
                i = tree.alloc()
                ts = _pg_ts(float(mtime) if mtime is not None else float(int(now)))
                inodes.append(f"{i}\t{_pnfsid(i)}\t{CHIMERA_FILE}\t420\t1\t{uid}\t{gid}\t{int(size)}\t"
                              f"{ts}\t{ts}\t{ts}\t{ts}\t0\n")
                links.append(f"{pid}\t{_tsv(name)}\t{i}\n")
                if adler:
                    sums.append(f"{i}\t{CHIMERA_ADLER32}\t{_tsv(adler)}\n")
                if location:
                    locs.append(f"{i}\t1\t{_tsv(location)}\t10\t{ts}\t{ts}\t1\n")
                if record_files:
                    res.file_ids[path] = i
                res.files += 1
            flush()
        flush()

        max_id = max([max_id, tree.next_id - 1, *tree.used])
        conn.execute("SELECT setval('t_inodes_inumber_seq', %s)", (max_id,))
        res.dirs_created = tree.created
        res.dir_ids = tree.dirs
        res.max_id = max_id
    res.seconds = time.monotonic() - t0
    return res


def chimera_namespace(postgres, dbname: str | None = None) -> dict[str, dict[str, Any]]:
    """Read the Chimera tables back: full path -> inode dict (with ``adler32``), via t_dirs."""
    with postgres.root_connect(dbname or postgres.database) as conn:
        cur = conn.execute(
            "SELECT i.inumber, i.ipnfsid, i.itype, i.imode, i.isize, "
            "date_part('epoch', i.imtime)::bigint AS mtime, d.iparent, d.iname, c.isum AS adler32 "
            "FROM t_inodes i LEFT JOIN t_dirs d ON d.ichild = i.inumber "
            "LEFT JOIN t_inodes_checksum c ON c.inumber = i.inumber AND c.itype = 1")
        cols = [d.name for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    by_id = {r["inumber"]: r for r in rows}

    @functools.lru_cache(maxsize=None)
    def path_of(i: int) -> str:
        r = by_id[i]
        if r["ipnfsid"] == CHIMERA_ROOT_PNFSID:
            return "/"
        return path_of(r["iparent"]).rstrip("/") + "/" + r["iname"]

    return {path_of(r["inumber"]): r for r in rows}
