"""What the end-to-end tests share: the real CLI and the real server, each in a fresh
process, and a copy of flows/ for a server to change."""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from local_duel.bench.serve import COMMAND, ServerProcess
from local_duel.core.paths import ROOT
from local_duel.core.weights import LLM_FILE

LLM_FILE_PATH = Path("models") / LLM_FILE


def local_duel(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `local-duel` command in a fresh process."""
    return subprocess.run(
        [str(COMMAND), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def serving(flows: Path, log, env: dict | None = None, port: int | None = None, started: list | None = None):
    """The real server (`local-duel serve`) on a free loopback port (or `port`), until the
    block ends, yielding its base URL; its process is appended to `started`, for tests
    that kill it. Tests start duels back to back, faster than a person would and on a
    loaded machine, so the stage does not learn from late lines unless `env` says so
    (tests/e2e/test_engine.py checks that it does)."""
    server = ServerProcess({"LOCAL_DUEL_FLOWS_DIR": str(flows), "LOCAL_DUEL_LEARN_STAGE": "false", **(env or {})}, port=port, log=log)
    server.start()
    if started is not None:
        started.append(server.process)
    try:
        server.wait_healthy()
        yield server.url
    finally:
        server.stop()


def copy_of_flows(folder: Path) -> Path:
    """A copy of flows/ (without uploads), so uploads made by tests don't land in the repo."""
    flows = folder / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("uploaded"))
    return flows


def server_process(base: str):
    """The `local-duel serve` process listening at `base`."""
    import psutil

    port = base.rsplit(":", 1)[1]
    return next(
        p for p in psutil.process_iter(["cmdline"])
        if (cmdline := p.info["cmdline"] or []) and "serve" in cmdline and cmdline[-1] == port
    )


NGINX_CONF = ROOT / "proxy" / "nginx.conf"


def nginx_conf(folder: Path, listen: int, replicas: dict[str, int]) -> Path:
    """proxy/nginx.conf for loopback: each replica's service name (`replica-1:8000`) is
    replaced by its loopback port here, and it listens on `listen`; nothing else changes."""
    text = NGINX_CONF.read_text().replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    for name, port in replicas.items():
        text = text.replace(f"server {name}:8000;", f"server 127.0.0.1:{port};")
    conf = folder / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx(conf: Path, *args: str) -> list[str]:
    """Debian's nginx (its path) on `conf`, with its pid and error log beside it."""
    folder = conf.parent
    return ["/usr/sbin/nginx", "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log"),
            "-g", f"pid {folder / 'nginx.pid'};", *args]
