"""Shared test set-up: the offline guard, the bundled models, and fresh-process helpers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = Path(__file__).resolve().parent / "offline"
sys.path.insert(0, str(OFFLINE))

import offline_guard  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def offline(tmp_path_factory) -> Path:
    """Every test runs offline: in this process and in every Python child it starts."""
    log = tmp_path_factory.mktemp("offline") / "refused.log"
    log.touch()
    os.environ["LOCAL_DUEL_OFFLINE_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), os.environ.get("PYTHONPATH")]))
    offline_guard.install()
    return log


@pytest.fixture(autouse=True)
def no_connection_left_loopback(offline: Path):
    """Fail the test if anything it ran tried to reach past loopback."""
    before = offline.read_text()
    yield
    refused = offline.read_text()[len(before):]
    assert not refused, f"a connection left loopback:\n{refused}"


def local_duel(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `local-duel` command in a fresh process."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("local-duel")), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )
