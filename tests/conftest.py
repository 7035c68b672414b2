"""Shared fixtures: the offline guard, the history kept out of the repo, the session's
server, and the bundled model's template rendered by its engine (helpers live in helpers.py)."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from loguru import logger

logger.remove()  # Pipecat's debug log would drown the test report
logger.add(sys.stderr, level="WARNING")

OFFLINE = Path(__file__).resolve().parent / "offline"
sys.path.insert(0, str(OFFLINE))

import offline_guard  # noqa: E402
from helpers import LLM_FILE_PATH, copy_of_flows, serving  # noqa: E402
from local_duel.bench.serve import wait_until_answered  # noqa: E402
from local_duel.core.child import free_port  # noqa: E402
from local_duel.core.paths import ROOT  # noqa: E402
from local_duel.core.settings import Settings  # noqa: E402
from local_duel.engine.embedded import TEMPLATE, llama_server, repack_flag  # noqa: E402

pytest_plugins = ["databases", "redis_server", "chromium"]  # throwaway SQLite, PostgreSQL and Redis; Chromium (browser tests)


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
def one_engine_thread_per_worker():
    """Under `scripts/test`'s two workers, each engine (and `local-duel` child) takes one
    thread: two engines of two threads on two cores spun against each other until lines
    missed their 30 s deadline."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["LOCAL_DUEL_ENGINE_THREADS"] = "1"


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


@pytest.fixture(scope="session")
def render_template(offline):
    """models/screenplay.jinja rendered by the embedded engine itself: llama-server's
    `/apply-template`, on the bundled model. BOS is left to the tokenizer, so the text
    starts with the scene."""
    port = free_port()
    process = subprocess.Popen(
        [str(llama_server()), "-m", str(ROOT / LLM_FILE_PATH), "--host", "127.0.0.1", "--port", str(port),
         "-np", "1", "-c", "512", "--no-webui", "--chat-template-file", str(TEMPLATE), repack_flag(Settings())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answered(f"{url}/health", process, within=60)

    def render(messages: list[dict]) -> str:
        request = urllib.request.Request(
            f"{url}/apply-template", json.dumps({"messages": messages}).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["prompt"]

    yield render
    process.terminate()
    process.wait()


@pytest.fixture(scope="session")
def server_flows(tmp_path_factory) -> Path:
    """The flows folder of the session's server."""
    return copy_of_flows(tmp_path_factory.mktemp("flows"))


@pytest.fixture(scope="session")
def server(offline, server_flows, tmp_path_factory):
    """The server for the whole session, on its own copy of flows/. Tests start duels far
    faster than a person would, so its start rate is not limited (tests/test_limits.py
    checks the limit on a server of its own)."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with log_path.open("w") as log, serving(server_flows, log, {"LOCAL_DUEL_STARTS_PER_MINUTE": "100000"}) as base:
        yield base
