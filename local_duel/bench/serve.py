"""`local-duel serve` in a child process: started on a loopback port, polled until
`/api/health` answers, stopped. The end-to-end tests and `local-duel bench` both run the
real server this way."""

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_duel.core.child import end, free_port
from local_duel.core.paths import ROOT

COMMAND = Path(sys.executable).with_name("local-duel")  # the console script beside this Python
STARTUP_SECONDS = 180  # a cold engine on a busy 2-core machine


def wait_until_answered(url: str, process: subprocess.Popen, within: float) -> bytes:
    """Poll `url` until it answers 200 and return the body; RuntimeError if `process`
    exits or `within` seconds pass first."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return response.read()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {within:g} s")
        time.sleep(0.2)


class ServerProcess:
    """The server on `port` (a free one if None), its output to `log`, with `env` added
    to this process's environment and `args` (such as `--lan`) to its command."""

    def __init__(
        self, env: dict[str, str] | None = None, port: int | None = None, log=subprocess.DEVNULL, args: tuple[str, ...] = ()
    ):
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(COMMAND), "serve", *self.args, "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, within: float = STARTUP_SECONDS) -> dict:
        """The first 200 answer of `/api/health`."""
        return json.loads(wait_until_answered(f"{self.url}/api/health", self.process, within))

    def stop(self) -> None:
        """Terminate it (its engine dies with it), killing it if it won't go in 30 s."""
        end(self.process, patience=30)

    def __enter__(self) -> "ServerProcess":
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def llm_server_process(env: dict[str, str] | None = None, log=subprocess.DEVNULL):
    """`local-duel llm-server` (one member of an LLM pool) on a free loopback port, sized by
    the LOCAL_DUEL_ENGINE_* settings in `env`, until the block ends: (its base URL, its process)."""
    port = free_port()
    process = subprocess.Popen(
        [str(COMMAND), "llm-server", "--port", str(port)], cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answered(f"{url}/health", process, within=60)
        yield url, process
    finally:
        end(process, patience=5)
