"""The LLM pool: one real server process seating duels at two real `llama-server`
processes on the bundled model, on loopback; one of them killed mid-duel."""

import asyncio
import re
import time
import urllib.request

import pytest
import websockets

from helpers import copy_of_flows, serving
from local_duel.bench.listener import CLIENT_READY, Heard, hear
from local_duel.bench.serve import llm_server_process
from test_stream import CAST, health, post

SLOTS = 2
DUEL = {"cast": CAST, "topic": "tea", "turns": 1}


def llm_server(log, slots: int = SLOTS):
    """A member of the pool: the bundled model with `slots` slots, one thread, a small context."""
    env = {"LOCAL_DUEL_ENGINE_SLOTS": str(slots), "LOCAL_DUEL_ENGINE_THREADS": "1", "LOCAL_DUEL_ENGINE_CONTEXT": "1024"}
    return llm_server_process(env, log)


def predicted(url: str) -> int:
    """Tokens a llama-server has generated so far (its Prometheus `/metrics`)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(float(re.search(r"^llamacpp:tokens_predicted_total (\S+)", text, re.MULTILINE).group(1)))


@pytest.fixture
def pool(offline, tmp_path):
    """Two LLM servers, and an app whose pool they are."""
    with (tmp_path / "llm.log").open("w") as log, llm_server(log) as one, llm_server(log) as two:
        env = {
            "LOCAL_DUEL_LLM_URLS": f'["{one[0]}/v1", "{two[0]}/v1"]',
            "LOCAL_DUEL_DRAFTS": "1",
            "LOCAL_DUEL_STARTS_PER_MINUTE": "1000",
        }
        with (tmp_path / "server.log").open("w") as server_log, serving(copy_of_flows(tmp_path), server_log, env) as base:
            yield base, one, two


async def watch(url: str) -> tuple[websockets.ClientConnection, Heard]:
    from pipecat.frames.frames import OutputTransportMessageFrame
    from pipecat.serializers.protobuf import ProtobufFrameSerializer

    socket = await websockets.connect(url, max_size=None)
    await socket.send(await ProtobufFrameSerializer().serialize(OutputTransportMessageFrame(message=CLIENT_READY)))
    return socket, Heard()


async def stage_is_free(base: str) -> None:
    """Wait until the duels before have given their places back."""
    for _ in range(100):
        if (await health(base))["duels_running"] == 0:
            await asyncio.sleep(0.3)  # the place is given back as the duel unwinds
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"duels still running at {base}: {await health(base)}")


async def test_duels_are_spread_over_the_pool_and_a_dead_server_ends_only_its_own(pool):
    base, (one, one_process), (two, _) = pool
    tickets = [(await post(base, "/api/start", json=DUEL))[1] for _ in range(2)]
    sockets = [await watch(t["wsUrl"]) for t in tickets]
    clock = time.monotonic
    started = clock()
    # both duels speak their first line, one at each server
    heard = await asyncio.gather(*(hear(s, h, started, on_event=lambda h: bool(h.named("line-ended"))) for s, h in sockets))
    assert all(h.named("line-ended") for h in heard)
    assert predicted(one) > 0 and predicted(two) > 0

    one_process.kill()
    killed = clock()
    outcomes = await asyncio.gather(*(hear(s, h, started, timeout=120) for s, h in sockets))
    # Only the duel seated at the dead server ends, with an error naming the server: the
    # pool's `llm-server-gone`, or the failed request's own if a line was being written.
    fatal = [(at, e) for h in outcomes for at, e in h.events if e["event"] == "error" and e.get("fatal")]
    assert len(fatal) == 1, fatal
    at, error = fatal[0]
    assert one in error["message"] and at - (killed - started) < 2.0
    ended = [h.named("duel-ended") for h in outcomes]
    assert sum(1 for e in ended if e) == 1  # the other duel played to its end
    for socket, _ in sockets:
        await socket.close()

    # new duels go to the live server, which now is the whole stage
    status, ticket = await post(base, "/api/start", json=DUEL)
    assert status == 200
    socket, fresh = await watch(ticket["wsUrl"])
    fresh = await hear(socket, fresh, clock(), timeout=120)
    assert fresh.named("duel-ended") and not fresh.named("error")
    await socket.close()
    await stage_is_free(base)
    for _ in range(SLOTS):
        status, answer = await post(base, "/api/start", json=DUEL)
        assert status == 200, answer
    status, refused = await post(base, "/api/start", json=DUEL)
    assert status == 429 and f"the stage is full: {SLOTS} duels" in refused["detail"]
    assert "as many as the LLM servers have slots" in refused["detail"]
