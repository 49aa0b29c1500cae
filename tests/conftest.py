# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures for the top-level integration tests: real servers and a playbook runner.

Servers are session-scoped and start only when a test asks for them; every one is
stopped at the end of the session (and by atexit / the parent-death signal if the
session dies).  Per-test databases and directories keep tests independent.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
for p in (str(REPO / "collections"), str(TESTS_DIR), str(REPO / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import ansible_runner  # noqa: E402
import seed  # noqa: E402
from servers import MariaDB, PostgreSQL, XRootD, stop_all  # noqa: E402

_counter = itertools.count(1)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "compat: also run with the oldest and the newest supported ansible-core (make test: "
        "VAPOR_ANSIBLE_BIN=.venv-compat/bin, then .venv-newest/bin, pytest -m compat)")


def pytest_sessionfinish(session, exitstatus):
    stop_all()


# -- servers ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mariadb():
    """A running MariaDB (``.host .port .socket .user .password .database``, ``execute`` ...)."""
    srv = MariaDB()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL 15 with user ``vapor`` and database ``chimera``."""
    srv = PostgreSQL()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def xrootd():
    """A running xrootd exporting ``xrootd.data_dir`` as ``/`` on ``xrootd.url``."""
    srv = XRootD()
    srv.start()
    yield srv
    srv.stop()


# -- per-test state on the servers ---------------------------------------------------


@pytest.fixture
def cns_db(mariadb):
    """Name of a fresh MariaDB database with the DPNS schema 3.2.0 (granted to ``vapor``)."""
    name = f"cns_t{next(_counter)}"
    mariadb.create_database(name, schema=seed.CNS_SCHEMA)
    yield name
    mariadb.drop_database(name)


@pytest.fixture(scope="session")
def _chimera_template(postgres):
    name = "chimera_template"
    postgres.create_database(name, schema=seed.CHIMERA_SCHEMA)
    return name


@pytest.fixture
def chimera_db(postgres, _chimera_template):
    """Name of a fresh PostgreSQL database with the Chimera tables and root inode (owner ``vapor``)."""
    name = f"chimera_t{next(_counter)}"
    postgres.create_database(name, template=_chimera_template)
    yield name
    postgres.drop_database(name)


@pytest.fixture
def xrootd_dir(xrootd):
    """A fresh empty directory on the xrootd server; its xrootd path (e.g. ``/t-3``)."""
    return xrootd.fresh_dir()


# -- ansible ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def local_inventory(tmp_path) -> Path:
    """Path of a temporary inventory: ``localhost`` with the local connection and the venv Python."""
    return ansible_runner.write_local_inventory(tmp_path / "inventory.yml")


@pytest.fixture
def run_playbook():
    """``run_playbook(playbook, extra_vars, check=False, diff=False, inventory=None,
    expect_failure=False, ...) -> PlaybookResult`` (see tests/ansible_runner.py)."""
    return ansible_runner.run_playbook


# -- a test CA and local Pakiti collectors (tests/testca.py, tests/pakiti_collector.py) ------------------------


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    """A test CA, a server certificate for 127.0.0.1, client and encryption certificates (tests/testca.py)."""
    from testca import make_test_ca
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def collectors(ca):
    """collectors(**kwargs) starts a local HTTPS Pakiti collector (tests/pakiti_collector.py); all stop afterwards."""
    from pakiti_collector import PakitiCollector
    started = []

    def make(**kwargs):
        c = PakitiCollector(ca, **kwargs).start()
        started.append(c)
        return c
    yield make
    for c in started:
        c.stop()
