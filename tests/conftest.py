"""What every test shares, in both layers: the offline guard, and the history kept out of
the repo. Each test is marked by its folder: `unit` (tests/unit: no model, server,
browser, database server or child process) or `e2e` (tests/e2e: the real components),
so `scripts/test -m unit` is the fast loop. The real components' fixtures (the session's
server, the engine's template renderer, Chromium, PostgreSQL, Redis) are in
tests/e2e/conftest.py, which a unit-only run never imports."""

import os
import sys
from pathlib import Path

import pytest
from loguru import logger

logger.remove()  # Pipecat's debug log would drown the test report
logger.add(sys.stderr, level="WARNING")

TESTS = Path(__file__).resolve().parent
OFFLINE = TESTS / "offline"
LAYERS = ("unit", "e2e")  # the folders under tests/, each its own marker (pyproject.toml)
sys.path.insert(0, str(OFFLINE))

import offline_guard  # noqa: E402


def pytest_collection_modifyitems(items):
    """Mark each test by the layer its file lives in; a test outside both is an error, so
    that `-m unit` and `-m e2e` between them always select every test."""
    for item in items:
        layer = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else None
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in tests/unit or tests/e2e")
        item.add_marker(layer)


@pytest.fixture(scope="session", autouse=True)
def offline(tmp_path_factory) -> Path:
    """Every test runs offline: in this process and in every Python child it starts."""
    log = tmp_path_factory.mktemp("offline") / "refused.log"
    log.touch()
    os.environ["LOCAL_DUEL_OFFLINE_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), os.environ.get("PYTHONPATH")]))
    offline_guard.install()
    return log


@pytest.fixture(scope="session", autouse=True)
def history_in_tmp(tmp_path_factory):
    """Duels played by tests (renders, servers, the benchmark) are kept out of the repo's data/."""
    os.environ["LOCAL_DUEL_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def no_connection_left_loopback(offline: Path):
    """Fail the test if anything it ran tried to reach past loopback."""
    before = offline.read_text()
    yield
    refused = offline.read_text()[len(before):]
    assert not refused, f"a connection left loopback:\n{refused}"
