"""Shared test set-up: the offline guard, the bundled models, and fresh-process helpers."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from loguru import logger

logger.remove()  # Pipecat's debug log would drown the test report
logger.add(sys.stderr, level="WARNING")

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = Path(__file__).resolve().parent / "offline"
sys.path.insert(0, str(OFFLINE))

import offline_guard  # noqa: E402
from local_duel.engine import free_port  # noqa: E402
from local_duel.engine.embedded import TEMPLATE, llama_server  # noqa: E402
from local_duel.models import LLM_FILE  # noqa: E402

LLM_FILE_PATH = Path("models") / LLM_FILE

pytest_plugins = ["databases"]  # the history's SQLite and throwaway PostgreSQL fixtures


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


def local_duel(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `local-duel` command in a fresh process."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("local-duel")), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )


def wait_until_answered(url: str, process: subprocess.Popen, within: float) -> None:
    """Poll `url` until it answers 200; fail if `process` exits or time runs out."""
    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, f"{process.args[0]} exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {within:g} s"
        time.sleep(0.2)


@contextlib.contextmanager
def serving(flows: Path, log, env: dict | None = None, port: int | None = None, started: list | None = None):
    """The real server (`local-duel serve`) on a free loopback port (or `port`), until the
    block ends; its process is appended to `started`, for tests that kill it."""
    port = port or free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("local-duel")), "serve", "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "LOCAL_DUEL_FLOWS_DIR": str(flows), **(env or {})},
    )
    if started is not None:
        started.append(process)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answered(f"{base}/api/health", process, within=180)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # its engine follows it: the engine dies with its parent
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def render_template(offline):
    """models/screenplay.jinja rendered by the embedded engine itself: llama-server's
    `/apply-template`, on the bundled model. BOS is left to the tokenizer, so the text
    starts with the scene."""
    port = free_port()
    process = subprocess.Popen(
        [str(llama_server()), "-m", str(ROOT / LLM_FILE_PATH), "--host", "127.0.0.1", "--port", str(port),
         "-np", "1", "-c", "512", "--no-webui", "--chat-template-file", str(TEMPLATE)],
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


def copy_of_flows(folder: Path) -> Path:
    """A copy of flows/ (without uploads), so uploads made by tests don't land in the repo."""
    flows = folder / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("uploaded"))
    return flows


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


def server_process(base: str):
    """The `local-duel serve` process listening at `base`."""
    import psutil

    port = base.rsplit(":", 1)[1]
    return next(
        p for p in psutil.process_iter(["cmdline"])
        if (cmdline := p.info["cmdline"] or []) and "serve" in cmdline and cmdline[-1] == port
    )
