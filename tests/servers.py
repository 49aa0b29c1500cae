# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real servers for the integration tests: MariaDB, PostgreSQL and XRootD.

Each server runs on 127.0.0.1 on a free port, in a fresh temporary directory, and
is stopped (and its directory removed) by ``stop()``, by the context manager, at
interpreter exit (``atexit``), and -- if the test process is killed -- by the
kernel (``PR_SET_PDEATHSIG``).  Directories left behind by a test process that
died anyway are cleaned up the next time a server is started: the harness
records the owner and server process ids (with their start times, so a recycled
pid is never mistaken for ours) in ``vapor-harness.json``.

PostgreSQL and XRootD refuse to run as root.  When the tests run as root, every
server runs as the unprivileged system user ``vaportest`` (created on first use
with ``useradd --system``) and its directory is owned by that user.  Otherwise
everything runs as the current user.

Environment knobs:
  VAPOR_TEST_TMPDIR   parent directory for the server directories (default: the
                      system temp dir, falling back to /tmp when the unprivileged
                      user could not traverse it or a socket path would be too long)
  VAPOR_TEST_KEEP=1   keep the server directories after stopping (for debugging)
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

RUN_AS_USER = "vaportest"
DIR_PREFIX = "vapor-test-"
STATE_FILE = "vapor-harness.json"
LOOPBACK = "127.0.0.1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# Client-side settings that make the XRootD client give up quickly instead of
# retrying for minutes (useful for tests of "server down" errors).
XRD_FAST_FAIL_ENV = {
    "XRD_CONNECTIONRETRY": "1",
    "XRD_CONNECTIONWINDOW": "5",
    "XRD_REQUESTTIMEOUT": "15",
    "XRD_STREAMTIMEOUT": "15",
}


class ServerError(RuntimeError):
    """A test server could not be prepared, started or reached."""


class _PortInUse(ServerError):
    pass


# --------------------------------------------------------------------------------------
# identity, ports, directories
# --------------------------------------------------------------------------------------


class Identity:
    """Who the servers run as: ``uid``/``gid``/``name``; ``drop`` tells whether we switch users."""

    def __init__(self, uid: int, gid: int, name: str, drop: bool):
        self.uid, self.gid, self.name, self.drop = uid, gid, name, drop

    def popen_kwargs(self) -> dict[str, Any]:
        if not self.drop:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: os.PathLike | str) -> None:
        if self.drop:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def chown_tree(self, path: os.PathLike | str) -> None:
        if not self.drop:
            return
        self.chown(path)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                self.chown(os.path.join(dirpath, name))

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, uid={self.uid}, gid={self.gid}, drop={self.drop})"


_identity_lock = threading.Lock()
_identity: Identity | None = None


def ensure_unprivileged_user(name: str = RUN_AS_USER) -> pwd.struct_passwd:
    """Return the passwd entry of ``name``, creating the system user if needed (idempotent)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    last = None
    for _ in range(5):
        # 9 = already exists (another process won the race), 10 = passwd file locked.
        last = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True,
        )
        try:
            return pwd.getpwnam(name)
        except KeyError:
            time.sleep(0.5)
    raise ServerError(
        f"could not create the unprivileged user {name!r} for the test servers: "
        f"useradd exited {last.returncode}: {last.stderr.strip()}"
    )


def server_identity() -> Identity:
    """The identity the servers run as (``vaportest`` when we are root, else ourselves)."""
    global _identity
    with _identity_lock:
        if _identity is None:
            if os.geteuid() == 0:
                pw = ensure_unprivileged_user()
                _identity = Identity(pw.pw_uid, pw.pw_gid, pw.pw_name, True)
            else:
                _identity = Identity(os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name, False)
        return _identity


_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
    raise ServerError("could not find a free TCP port on 127.0.0.1")


def _traversable_by_others(path: Path) -> bool:
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def base_dir() -> Path:
    """Parent directory for the per-server temporary directories."""
    cand = Path(os.environ.get("VAPOR_TEST_TMPDIR") or tempfile.gettempdir())
    ok = cand.is_dir() and len(str(cand)) < 60
    if ok and server_identity().drop:
        ok = _traversable_by_others(cand)
    return cand if ok else Path("/tmp")


# --------------------------------------------------------------------------------------
# process bookkeeping
# --------------------------------------------------------------------------------------


def _proc_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (``None`` if it does not exist)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None


def _alive(pid: int | None, start: str | None) -> bool:
    return bool(pid) and start is not None and _proc_start_time(pid) == start


_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not on Linux
    _libc = None


def _deathsig(sig: int) -> Callable[[], None]:
    """preexec_fn: have the kernel send ``sig`` to the child when the test process dies.

    CPython runs preexec_fn after switching uid/gid, so the setting survives the
    credential change (which would otherwise clear it).
    """
    parent = os.getpid()

    def _set() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # parent already gone before prctl took effect
            os.kill(os.getpid(), sig)

    return _set


_registry_lock = threading.Lock()
_running: set["Server"] = set()
_leftovers_cleaned = False


def stop_all() -> None:
    """Stop every server this process started (registered with atexit)."""
    with _registry_lock:
        servers = list(_running)
    for srv in servers:
        try:
            srv.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(stop_all)


def cleanup_leftovers(parent: Path | None = None) -> list[Path]:
    """Kill servers and remove directories left behind by dead test processes.

    Only processes recorded in a harness state file are touched, and only when
    their pid still refers to the very process we started (same start time).
    """
    removed: list[Path] = []
    parent = parent or base_dir()
    try:
        entries = list(parent.glob(DIR_PREFIX + "*"))
    except OSError:
        return removed
    for d in entries:
        state_path = d / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            # No state yet: maybe a server being prepared right now by another
            # process. Only remove it if it is clearly stale.
            try:
                if time.time() - d.stat().st_mtime < 3600:
                    continue
            except OSError:
                continue
            state = {}
        if _alive(state.get("owner_pid"), state.get("owner_start")):
            continue
        spid, sstart = state.get("server_pid"), state.get("server_start")
        if _alive(spid, sstart):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(spid, sig)
                except ProcessLookupError:
                    break
                except PermissionError:
                    break
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and _alive(spid, sstart):
                    time.sleep(0.1)
                if not _alive(spid, sstart):
                    break
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------
# the server base class
# --------------------------------------------------------------------------------------


class Server:
    """Common life cycle: prepare a directory, launch, wait until ready, stop."""

    kind = "server"
    host = LOOPBACK
    stop_signal = signal.SIGTERM
    port_attempts = 4

    def __init__(self, *, startup_timeout: float = 90.0, keep: bool | None = None):
        self.startup_timeout = startup_timeout
        self.keep = os.environ.get("VAPOR_TEST_KEEP") == "1" if keep is None else keep
        self.port: int | None = None
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.identity: Identity | None = None
        self._log_handle = None

    # -- public API ------------------------------------------------------------------

    def start(self):
        if self.proc is not None:
            return self
        global _leftovers_cleaned
        if not _leftovers_cleaned:
            _leftovers_cleaned = True
            cleanup_leftovers()
        self.identity = server_identity()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{self.kind}-", dir=base_dir()))
        os.chmod(self.dir, 0o755)
        self._write_state()
        with _registry_lock:
            _running.add(self)
        try:
            self.identity.chown(self.dir)
            self._prepare()
            for attempt in range(self.port_attempts):
                self.port = free_port()
                try:
                    self._launch()
                    self._wait_ready()
                    break
                except _PortInUse:
                    self._terminate()
                    if attempt == self.port_attempts - 1:
                        raise
            self._after_start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its directory unless ``keep``."""
        self._terminate()
        with _registry_lock:
            _running.discard(self)
        if self.dir is not None and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} dir={self.dir} running={self.running}>"

    # -- helpers for subclasses -------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.dir),
            "USER": self.identity.name,
            "LOGNAME": self.identity.name,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "TMPDIR": str(self.dir),
        }
        return env

    def _mkdir(self, *parts: str, mode: int = 0o700) -> Path:
        p = self.dir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)
        self.identity.chown(p)
        return p

    def _run(self, argv: list[str], log: Path, timeout: float = 120.0) -> None:
        """Run a preparation command as the server identity; raise with the log tail on failure."""
        with open(log, "ab") as out:
            try:
                res = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=self.dir, env=self._env(), timeout=timeout,
                    preexec_fn=_deathsig(signal.SIGKILL), **self.identity.popen_kwargs(),
                )
            except subprocess.TimeoutExpired:
                raise ServerError(
                    f"{self.kind}: {argv[0]} did not finish within {timeout:.0f}s; log {log}:\n{_tail(log)}"
                ) from None
            except FileNotFoundError:
                raise ServerError(f"{self.kind}: {argv[0]} is not installed") from None
        if res.returncode != 0:
            raise ServerError(
                f"{self.kind}: {' '.join(argv[:1])} exited {res.returncode}; log {log}:\n{_tail(log)}"
            )

    def _spawn(self, argv: list[str]) -> None:
        self._log_handle = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log_handle, stderr=subprocess.STDOUT,
                cwd=self.dir, env=self._env(), start_new_session=True,
                # SIGKILL, not SIGTERM: once the test process is dead nobody needs a clean shutdown, and a
                # loaded machine can keep a server busy with its SIGTERM handling for a long time
                preexec_fn=_deathsig(signal.SIGKILL), **self.identity.popen_kwargs(),
            )
        except FileNotFoundError:
            raise ServerError(f"{self.kind}: {argv[0]} is not installed") from None
        self._write_state()

    def _write_state(self) -> None:
        state = {
            "kind": self.kind,
            "owner_pid": os.getpid(),
            "owner_start": _proc_start_time(os.getpid()),
            "server_pid": self.proc.pid if self.proc else None,
            "server_start": _proc_start_time(self.proc.pid) if self.proc else None,
            "port": self.port,
        }
        (self.dir / STATE_FILE).write_text(json.dumps(state))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                log = self.log_tail()
                if re.search(r"(?i)address already in use", log):
                    raise _PortInUse(f"{self.kind}: port {self.port} already in use")
                raise ServerError(
                    f"{self.kind} exited with status {rc} during startup on port {self.port}; "
                    f"log {self.log_path}:\n{log}"
                )
            try:
                if self._ready():
                    return
            except ServerError:
                raise
            except Exception as exc:  # not ready yet
                last_error = exc
            if time.monotonic() > deadline:
                if re.search(r"(?i)address already in use", self.log_tail()):
                    raise _PortInUse(f"{self.kind}: port {self.port} already in use")
                raise ServerError(
                    f"{self.kind} did not accept connections on {self.host}:{self.port} within "
                    f"{self.startup_timeout:.0f}s (last error: {last_error}); log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, self.stop_signal)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=10)
            # Stragglers in the server's own process group (e.g. postgres backends).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    # -- subclass hooks -------------------------------------------------------------

    def _prepare(self) -> None:
        """One-time setup of the directory (install db, write config)."""

    def _launch(self) -> None:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _after_start(self) -> None:
        """Create users/databases once the server is up."""


def _tcp_open(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1):
        return True


# --------------------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------------------


class MariaDB(Server):
    """A MariaDB server with real password authentication.

    After ``start()``: database ``database`` (default ``cns_db``) exists and user
    ``user``/``password`` (``vapor``) may use it over TCP (``vapor@'%'``) and over the
    socket (``vapor@localhost``).  ``root`` has no password (socket and loopback).
    """

    kind = "mariadb"

    def __init__(self, *, user: str = "vapor", password: str = "Vapor-test-pw-1",
                 database: str = "cns_db", buffer_pool: str = "256M",
                 extra_args: Iterable[str] = (), **kw):
        super().__init__(**kw)
        self.user, self.password, self.database = user, password, database
        self.buffer_pool = buffer_pool
        self.extra_args = list(extra_args)

    @property
    def socket(self) -> str:
        return str(self.dir / "mysqld.sock")

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    def _prepare(self) -> None:
        installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not installer:
            raise ServerError("mariadb: neither mariadb-install-db nor mysql_install_db is installed")
        self._mkdir("tmp")
        self._run(
            [installer, "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve", f"--tmpdir={self.dir / 'tmp'}"],
            self.dir / "install-db.log",
        )

    def _launch(self) -> None:
        server = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
        self._spawn([
            server, "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={LOOPBACK}",
            f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--tmpdir={self.dir / 'tmp'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--local-infile=1",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            f"--innodb-buffer-pool-size={self.buffer_pool}",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--max-allowed-packet=64M",
            "--max-connections=200",
            *self.extra_args,
        ])

    def _ready(self) -> bool:
        self.root_connect().close()
        return True

    def _after_start(self) -> None:
        u, pw = self.user, self.password
        # root only over the unix socket: no passwordless root on the TCP port
        hosts = [r[0] for r in self.execute("SELECT Host FROM mysql.user WHERE User = 'root'")]
        for h in hosts:
            if h != "localhost":
                self.execute("DROP USER %s@%s", ("root", h))
        self.executescript(
            f"CREATE USER '{u}'@'%' IDENTIFIED BY '{pw}';"
            f"CREATE USER '{u}'@'localhost' IDENTIFIED BY '{pw}';"
        )
        self.create_database(self.database)

    # -- connections --------------------------------------------------------------------

    def root_connect(self, database: str | None = None, **kw):
        """PyMySQL connection as root over the unix socket (autocommit, LOCAL INFILE allowed)."""
        import pymysql

        kw.setdefault("autocommit", True)
        kw.setdefault("local_infile", True)
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("charset", "utf8mb4")
        return pymysql.connect(unix_socket=self.socket, user="root", password="", database=database, **kw)

    def connect(self, user: str | None = None, password: str | None = None,
                database: str | None = None, **kw):
        """PyMySQL connection over TCP to 127.0.0.1:port, as ``vapor`` by default."""
        import pymysql

        kw.setdefault("connect_timeout", 5)
        kw.setdefault("charset", "utf8mb4")
        return pymysql.connect(
            host=self.host, port=self.port, user=user or self.user,
            password=self.password if password is None else password,
            database=self.database if database is None else database, **kw,
        )

    def conninfo(self, database: str | None = None) -> dict[str, Any]:
        """Connection parameters for the ``vapor`` user over TCP."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "database": database or self.database}

    # -- SQL ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None, db: str | None = None) -> list[tuple]:
        """Run one statement as root; return all rows (empty list for non-queries)."""
        conn = self.root_connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def executemany(self, sql: str, rows: Iterable, db: str | None = None) -> int:
        conn = self.root_connect(db)
        try:
            with conn.cursor() as cur:
                return cur.executemany(sql, list(rows)) or 0
        finally:
            conn.close()

    def executescript(self, sql: str, db: str | None = None) -> None:
        """Run several ``;``-separated statements as root (no DELIMITER support)."""
        from pymysql.constants import CLIENT

        conn = self.root_connect(db, client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                while cur.nextset():
                    pass
        finally:
            conn.close()

    def load_sql_file(self, path: os.PathLike | str, db: str) -> None:
        self.executescript(Path(path).read_text(), db=db)

    def create_database(self, name: str, *, schema: os.PathLike | str | None = None,
                        grant_to: Iterable[str] | None = None, replace: bool = True) -> str:
        """Create database ``name`` (dropping an old one), grant it to ``vapor``, load ``schema``."""
        _check_ident(name)
        grantees = [self.user] if grant_to is None else list(grant_to)
        stmts = []
        if replace:
            stmts.append(f"DROP DATABASE IF EXISTS `{name}`")
        stmts.append(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        for g in grantees:
            stmts.append(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{g}'@'%'")
            stmts.append(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{g}'@'localhost'")
        self.executescript(";".join(stmts))
        if schema is not None:
            self.load_sql_file(schema, name)
        return name

    def drop_database(self, name: str) -> None:
        _check_ident(name)
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


class PostgreSQL(Server):
    """A PostgreSQL 15 server: superuser ``postgres`` (trust, unix socket only),
    user ``vapor`` with a SCRAM password for TCP on 127.0.0.1, database ``chimera``."""

    kind = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: do not wait for idle clients
    superuser = "postgres"

    def __init__(self, *, user: str = "vapor", password: str = "Vapor-test-pw-2",
                 database: str = "chimera", bindir: os.PathLike | str = PG_BIN,
                 settings: Mapping[str, str] | None = None, **kw):
        super().__init__(**kw)
        self.user, self.password, self.database = user, password, database
        self.bindir = Path(bindir)
        self.settings = dict(settings or {})

    @property
    def socket_dir(self) -> str:
        return str(self.dir / "sock")

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    def _prepare(self) -> None:
        initdb = self.bindir / "initdb"
        if not initdb.exists():
            raise ServerError(f"postgres: {initdb} is not installed")
        self._mkdir("sock", mode=0o755)
        self._run(
            [str(initdb), "-D", str(self.datadir), "-U", self.superuser,
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            self.dir / "initdb.log",
        )

    def _launch(self) -> None:
        self._spawn([
            str(self.bindir / "postgres"), "-D", str(self.datadir),
            "-p", str(self.port), "-k", self.socket_dir,
            "-c", f"listen_addresses={LOOPBACK}",
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
            "-c", "timezone=UTC", "-c", "log_timezone=UTC",
            "-c", "max_connections=100", "-c", "max_wal_size=2GB",
            "-c", "logging_collector=off", "-c", "password_encryption=scram-sha-256",
            *[a for k, v in self.settings.items() for a in ("-c", f"{k}={v}")],
        ])

    def _ready(self) -> bool:
        self.root_connect().close()
        return True

    def _after_start(self) -> None:
        with self.root_connect() as conn:
            conn.execute(f'CREATE ROLE "{self.user}" LOGIN PASSWORD {_pg_literal(self.password)}')
        self.create_database(self.database)

    # -- connections --------------------------------------------------------------------

    def root_connect(self, dbname: str = "postgres", **kw):
        """psycopg connection as the superuser over the unix socket (autocommit)."""
        import psycopg

        kw.setdefault("autocommit", True)
        kw.setdefault("connect_timeout", 5)
        return psycopg.connect(host=self.socket_dir, port=self.port, user=self.superuser,
                               dbname=dbname, **kw)

    def connect(self, user: str | None = None, password: str | None = None,
                dbname: str | None = None, **kw):
        """psycopg connection over TCP to 127.0.0.1:port, as ``vapor`` by default."""
        import psycopg

        kw.setdefault("connect_timeout", 5)
        return psycopg.connect(
            host=self.host, port=self.port, user=user or self.user,
            password=self.password if password is None else password,
            dbname=dbname or self.database, **kw,
        )

    def conninfo(self, dbname: str | None = None) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "dbname": dbname or self.database}

    def dsn(self, dbname: str | None = None) -> str:
        return (f"host={self.host} port={self.port} user={self.user} "
                f"password={self.password} dbname={dbname or self.database}")

    # -- SQL ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None, db: str | None = None) -> list[tuple]:
        """Run one statement as the superuser; return all rows."""
        with self.root_connect(db or self.database) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def executemany(self, sql: str, rows: Iterable, db: str | None = None) -> None:
        with self.root_connect(db or self.database) as conn:
            with conn.cursor() as cur:
                cur.executemany(sql, list(rows))

    def executescript(self, sql: str, db: str | None = None, *, as_user: str | None = None) -> None:
        """Run several statements (simple query protocol) in one transaction.

        ``as_user`` runs them after ``SET ROLE`` so that the created objects belong to it.
        """
        with self.root_connect(db or self.database, autocommit=False) as conn:
            if as_user:
                conn.execute(f'SET ROLE "{as_user}"')
            conn.execute(sql)
            conn.commit()

    def load_sql_file(self, path: os.PathLike | str, db: str, *, as_user: str | None = None) -> None:
        self.executescript(Path(path).read_text(), db=db, as_user=as_user)

    def create_database(self, name: str, *, owner: str | None = None, template: str | None = None,
                        schema: os.PathLike | str | None = None, replace: bool = True) -> str:
        """Create database ``name`` owned by ``vapor``; load ``schema`` as the owner."""
        _check_ident(name)
        owner = owner or self.user
        with self.root_connect() as conn:
            if replace:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tmpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"{tmpl}')
        if schema is not None:
            self.load_sql_file(schema, name, as_user=owner)
        return name

    def drop_database(self, name: str) -> None:
        _check_ident(name)
        with self.root_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _check_ident(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"unsafe database name for the test harness: {name!r}")


# --------------------------------------------------------------------------------------
# XRootD
# --------------------------------------------------------------------------------------


class XRootD(Server):
    """The Debian ``xrootd`` daemon exporting ``data_dir`` as ``/`` without authentication.

    Only clients from 127.0.0.1 are accepted (``xrd.allow``); xrootd itself has no
    option to bind a single interface.  ``xrootd.chksum adler32`` is enabled so
    ``xrdfs query checksum`` works.
    """

    kind = "xrootd"

    def __init__(self, *, extra_config: Iterable[str] = (), **kw):
        super().__init__(**kw)
        self.extra_config = list(extra_config)
        self._fresh = 0

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"root://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "xrootd.cfg"

    def _prepare(self) -> None:
        if not shutil.which("xrootd"):
            raise ServerError("xrootd: the xrootd daemon is not installed (package xrootd-server)")
        self._mkdir("data", mode=0o755)
        self._mkdir("admin")
        self._mkdir("run", mode=0o755)

    def _launch(self) -> None:
        lines = [
            f"xrd.port {self.port}",
            f"xrd.allow host {LOOPBACK}",
            "xrd.allow host localhost",
            "all.role server",
            "all.export /",
            f"oss.localroot {self.data_dir}",
            f"all.adminpath {self.dir / 'admin'}",
            f"all.pidpath {self.dir / 'run'}",
            "xrootd.chksum adler32",
            *self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.config_path, 0o644)
        for old in (self.log_path, self.xrootd_log):  # from an attempt on another port
            if old.exists():
                old.unlink()
        # -s: the pid file; its directory also receives the "manifest" <name>.env
        # file, which otherwise goes to /tmp/xrootd.anon.env and, once owned by
        # another user, makes later servers fail to initialise (xrootd#2106).
        self._spawn(["xrootd", "-c", str(self.config_path), "-l", str(self.xrootd_log),
                     "-s", str(self.dir / "run" / "xrootd.pid")])

    @property
    def xrootd_log(self) -> Path:
        return self.dir / "xrootd.log"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, 10) + "\n--- xrootd.log ---\n" + _tail(self.xrootd_log, lines)

    def _ready(self) -> bool:
        log = _tail(self.xrootd_log, 200)
        if "initialization failed" in log:
            if re.search(r"(?i)address already in use", log):
                raise _PortInUse(f"xrootd: port {self.port} already in use")
            raise ServerError(f"xrootd failed to initialise; log {self.xrootd_log}:\n{_tail(self.xrootd_log)}")
        if "initialization completed" not in log:
            return False
        return _tcp_open(self.host, self.port)

    # -- data helpers -------------------------------------------------------------------

    def path(self, rel: str = "") -> Path:
        """Local path of the exported ``rel`` (``/a/b`` or ``a/b``)."""
        rel = rel.lstrip("/")
        p = (self.data_dir / rel) if rel else self.data_dir
        if ".." in Path(rel).parts:
            raise ValueError(f"path escapes the export root: {rel!r}")
        return p

    def fix_ownership(self, rel: str = "") -> None:
        """Give the tree under ``rel`` to the server user (after writing files as root)."""
        self.identity.chown_tree(self.path(rel))

    def seed(self, files: Mapping[str, bytes | str | int | None],
             mtime: float | Mapping[str, float] | None = None) -> list[Path]:
        """Create files under the export root and return their local paths.

        ``files`` maps a relative path to its content: ``bytes``/``str`` are written,
        an ``int`` makes a file of that size (zeros, sparse), ``None`` or a key ending
        in ``/`` makes a directory.  ``mtime`` (epoch seconds) is applied to every
        created file and directory, or per path when a mapping is given.  Everything
        created (including new parent directories) is chowned to the server user.
        """
        created_dirs: list[Path] = []
        created: list[Path] = []
        if isinstance(mtime, Mapping):
            mtime = {k.strip("/"): v for k, v in mtime.items()}

        def mkdirs(d: Path) -> None:
            missing = []
            while not d.exists():
                missing.append(d)
                d = d.parent
            for m in reversed(missing):
                m.mkdir()
                self.identity.chown(m)
                created_dirs.append(m)

        for rel, content in files.items():
            p = self.path(rel)
            if p == self.data_dir:
                raise ValueError("cannot seed the export root itself")
            if content is None or rel.endswith("/"):
                mkdirs(p)
                created.append(p)
                continue
            mkdirs(p.parent)
            if isinstance(content, bool):
                raise TypeError(f"bad content for {rel!r}: {content!r}")
            if isinstance(content, int):
                with open(p, "wb") as f:
                    f.truncate(content)
            else:
                p.write_bytes(content.encode() if isinstance(content, str) else bytes(content))
            self.identity.chown(p)
            created.append(p)

        if mtime is not None:
            for p in created:
                if p.is_file():
                    t = mtime.get(self._rel(p)) if isinstance(mtime, Mapping) else mtime
                    if t is not None:
                        os.utime(p, (t, t))
            # directories last, deepest first, so later writes do not bump them
            for p in sorted(set(created_dirs) | {c for c in created if c.is_dir()},
                            key=lambda q: len(q.parts), reverse=True):
                t = mtime.get(self._rel(p)) if isinstance(mtime, Mapping) else mtime
                if t is not None:
                    os.utime(p, (t, t))
        return created

    def _rel(self, p: Path) -> str:
        return str(p.relative_to(self.data_dir))

    def fresh_dir(self, prefix: str = "t") -> str:
        """Create a new empty directory under the export root; return its xrootd path (``/t-3``)."""
        while True:
            self._fresh += 1
            rel = f"{prefix}-{self._fresh}"
            if not self.path(rel).exists():
                break
        self.seed({rel + "/": None})
        return "/" + rel

    def clear(self) -> None:
        """Remove everything under the export root."""
        for child in self.data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def xrdfs(self, *args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        """Run ``xrdfs 127.0.0.1:PORT <args>`` and return the completed process (text)."""
        env = {**os.environ, **XRD_FAST_FAIL_ENV}
        return subprocess.run(["xrdfs", self.endpoint, *args], capture_output=True, text=True,
                              timeout=timeout, check=check, env=env)
