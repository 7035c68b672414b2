"""Hanging up leaves nothing behind: after 30 duels abandoned mid-line, the server's
tasks, open files and connections to the engine are back where they were within 5 s,
and none of those ordinary hang-ups, nor the page's own after a duel has ended, is
logged as an error. A real server of its own."""

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
from pipecat.frames.frames import OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from helpers import copy_of_flows, server_process, serving
from local_duel.bench.listener import CLIENT_READY, listen
from test_stream import CAST, health, post

CYCLES = 30


@dataclass
class Roomy:
    """A server of the test's own, with no start rate limit, and its log."""

    base: str
    log: Path


@pytest.fixture(scope="module")
def roomy(offline, tmp_path_factory) -> Roomy:
    folder = tmp_path_factory.mktemp("leaks")
    log = folder / "server.log"
    with log.open("w") as out, serving(copy_of_flows(folder), out, {"LOCAL_DUEL_STARTS_PER_MINUTE": "100000"}) as base:
        yield Roomy(base, log)


HISTORY_FILES = (".db", ".db-wal", ".db-shm", ".db-journal")


def footprint(process, engine_port: int) -> dict:
    """What a leak would grow. The history's SQLite connections are left out: they are
    pooled (at most SQLAlchemy's pool size), opened as writes overlap and kept for reuse."""
    pooled = sum(1 for f in process.open_files() if f.path.endswith(HISTORY_FILES))
    return {
        "open files": process.num_fds() - pooled,
        "engine sockets": sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port == engine_port),
    }


async def hang_up_cycles(base: str, cycles: int) -> None:
    """Start, say ready, and hang up while the first line is being written."""
    ready = await ProtobufFrameSerializer().serialize(OutputTransportMessageFrame(message=CLIENT_READY))
    for k in range(cycles):
        status, ticket = await post(base, "/api/start", json={"cast": CAST, "topic": f"socks {k}"})
        assert status == 200
        async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
            await socket.send(ready)
            await asyncio.sleep(0.5)


async def test_thirty_hang_ups_leave_no_task_file_or_engine_socket_behind(roomy):
    base, log = roomy.base, roomy.log
    process = server_process(base)
    engine_port = int((await health(base))["engine_url"].rsplit(":", 1)[1].split("/")[0])
    # A whole duel first, hung up on as the page does once it has ended; it also loads
    # what every duel shares.
    heard = await listen(base, {"cast": CAST, "topic": "socks", "turns": 1})
    assert heard.named("duel-ended")
    await hang_up_cycles(base, 1)
    await asyncio.sleep(2)
    report = await health(base)
    assert "tasks" in report, report
    tasks, before = report["tasks"], footprint(process, engine_port)

    await hang_up_cycles(base, CYCLES)

    deadline = time.monotonic() + 5
    while True:
        now_tasks, now = (await health(base))["tasks"], footprint(process, engine_port)
        if now_tasks <= tasks and all(now[k] <= before[k] for k in before):
            break
        assert time.monotonic() < deadline, f"after {CYCLES} hang-ups: {now_tasks} tasks, {now}; before: {tasks} tasks, {before}"
        await asyncio.sleep(0.25)
    logged = log.read_text()
    assert not any(word in logged for word in ("| ERROR", "ERROR:", "Task was destroyed")), logged[-3000:]
