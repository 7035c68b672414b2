"""The end-to-end layer's fixtures: the session's server, and the bundled model's template
rendered by its engine; Chromium, PostgreSQL and Redis come from chromium.py,
databases.py and redis_server.py beside this file (helpers live in helpers.py). The
offline guard, from tests/conftest.py, covers every test here and every child it starts."""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from chromium import browser  # noqa: F401  (fixture: real Chromium, for the browser tests)
from databases import database_url, postgresql_server  # noqa: F401  (fixtures: a throwaway PostgreSQL)
from helpers import LLM_FILE_PATH, copy_of_flows, serving
from local_duel.bench.serve import wait_until_answered
from local_duel.core.child import free_port
from local_duel.core.paths import ROOT
from local_duel.core.settings import Settings
from local_duel.engine.embedded import TEMPLATE, llama_server, repack_flag
from redis_server import redis_server, redis_url  # noqa: F401  (fixtures: a throwaway Redis)


@pytest.fixture(scope="session", autouse=True)
def one_engine_thread_per_worker():
    """Under `scripts/test`'s two workers, each engine (and `local-duel` child) takes one
    thread: two engines of two threads on two cores spun against each other until lines
    missed their 30 s deadline."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["LOCAL_DUEL_ENGINE_THREADS"] = "1"


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
    faster than a person would, so its start rate is not limited (tests/e2e/test_limits.py
    checks the limit on a server of its own)."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with log_path.open("w") as log, serving(server_flows, log, {"LOCAL_DUEL_STARTS_PER_MINUTE": "100000"}) as base:
        yield base
