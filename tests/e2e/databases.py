"""The history's database for the end-to-end tests: a real throwaway PostgreSQL (the same
tests on a SQLite file are in tests/unit/test_history_store.py).

PostgreSQL comes from Debian's `postgresql` package (`scripts/setup --test` installs it).
Its server refuses to run as root, and pytest-postgresql's process fixture has no way
to run it as another user (dbfixtures/pytest-postgresql#341, #455), so the cluster is
started here with the package's own `initdb` and `pg_ctl`, as the `postgres` user when
the tests run as root. Each test then gets a fresh database from pytest-postgresql's
`DatabaseJanitor`, dropped afterwards. Nothing assumes a server already running.
"""

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import port_for
import pytest
from pytest_postgresql.janitor import DatabaseJanitor


@dataclass(frozen=True)
class Cluster:
    """Where the session's PostgreSQL listens."""

    host: str
    port: int


def _as_server_user(command: list) -> list:
    return ["runuser", "-u", "postgres", "--", *map(str, command)] if os.geteuid() == 0 else list(map(str, command))


@pytest.fixture(scope="session")
def postgresql_server() -> Cluster:
    """A PostgreSQL cluster on a free loopback port for the test session."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is not installed: `scripts/setup --test` installs Debian's postgresql")
    bin_dir = Path(found[-1]).parent
    home = Path(tempfile.mkdtemp(prefix="local-duel-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data, port = home / "data", port_for.get_port(None)
    subprocess.run(
        _as_server_user([bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_server_user([bin_dir / "pg_ctl", "-D", data, "-l", home / "log", "-w", "-o", options, "start"]),
                   check=True, capture_output=True)
    try:
        yield Cluster("127.0.0.1", port)
    finally:
        subprocess.run(_as_server_user([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["postgresql"])
def database_url(request, postgresql_server: Cluster) -> str:
    """A fresh, empty database on the PostgreSQL cluster (the param names it in test ids,
    as `[sqlite]` does in the unit layer)."""
    host, port = postgresql_server.host, postgresql_server.port
    name = f"duels_{request.node.name.encode().hex()[:40]}"
    with DatabaseJanitor(user="postgres", host=host, port=port, dbname=name, password=""):
        yield f"postgresql://postgres@{host}:{port}/{name}"
