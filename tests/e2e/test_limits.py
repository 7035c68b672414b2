"""Every limit is a setting, and reaching one gets a 4xx or 429 that names it. A real
server of its own, with small limits, over real HTTP and a real WebSocket."""

import asyncio
import time

import aiohttp
import pytest
import websockets

from helpers import copy_of_flows, serving
from test_hostile_input import first_event
from test_stream import CAST, TWO_PHASES, health, post, upload

LIMITS = {
    "LOCAL_DUEL_STARTS_PER_MINUTE": "4",
    "LOCAL_DUEL_CLIENT_READY_SECONDS": "1.5",
    "LOCAL_DUEL_UPLOAD_MAX_FILES": "2",
    "LOCAL_DUEL_UPLOAD_MAX_BYTES": "2500",
    "LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES": "2048",
    "LOCAL_DUEL_MAX_TURNS_PER_PHASE": "4",  # the bundled flow has 4
}


@pytest.fixture(scope="module")
def small(offline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    with (folder / "server.log").open("w") as log, serving(copy_of_flows(folder), log, LIMITS) as base:
        yield base


async def test_a_socket_that_never_says_ready_is_closed_saying_why(small):
    status, ticket = await post(small, "/api/start", json={"cast": CAST, "topic": "tea"})
    assert status == 200
    started = time.monotonic()
    async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
        received = [raw async for raw in socket]  # until the server closes it
    assert 1.5 <= time.monotonic() - started < 6
    assert any(b"no RTVI client-ready within 1.5 s (LOCAL_DUEL_CLIENT_READY_SECONDS)" in raw for raw in received)
    for _ in range(20):  # the socket closes a moment before the duel has unwound
        if (await health(small))["duels_running"] == 0:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the duel of the silent socket is still running")


async def test_a_client_that_says_ready_in_time_gets_its_duel(small):
    status, ticket = await post(small, "/api/start", json={"cast": CAST, "topic": "tea", "turns": 1})
    assert status == 200
    async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
        await asyncio.sleep(0.5)
        assert (await first_event(socket, "line-started"))["turn"] == 1


async def test_too_many_starts_in_a_minute_get_429_with_retry_after(small):
    for _ in range(5):  # the limit is 4 a minute; earlier tests in this module used some
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{small}/api/start", json={"cast": CAST, "topic": "tea"}) as response:
                if response.status == 429:
                    detail = (await response.json())["detail"]
                    assert 1 <= int(response.headers["Retry-After"]) <= 60
                    assert "at most 4 a minute (LOCAL_DUEL_STARTS_PER_MINUTE)" in detail
                    return
                assert response.status == 200
    raise AssertionError("a fifth start within a minute was not refused")


async def test_uploads_are_limited_in_size_count_and_bytes(small):
    padded = TWO_PHASES + "# " + "x" * 1500 + "\n"  # about 2,100 bytes in all
    status, answer = await upload(small, "big.yaml", padded + "#" * 100)
    assert status == 413 and "larger than 2048 bytes (LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES)" in answer["detail"]
    assert (await upload(small, "one.yaml", padded[:2000]))[0] == 201
    status, answer = await upload(small, "two.yaml", TWO_PHASES)  # 2,000 + about 600 > 2,500
    assert status == 507 and "2500 bytes in all (LOCAL_DUEL_UPLOAD_MAX_BYTES)" in answer["detail"]
    assert (await upload(small, "one.yaml", TWO_PHASES))[0] == 201  # replacing frees its bytes
    assert (await upload(small, "two.yaml", TWO_PHASES))[0] == 201
    status, answer = await upload(small, "three.yaml", TWO_PHASES)
    assert status == 507 and "at most 2 uploaded flows (LOCAL_DUEL_UPLOAD_MAX_FILES)" in answer["detail"]
    assert (await upload(small, "two.yaml", TWO_PHASES))[0] == 201  # a replacement is not a new one


async def test_a_body_too_large_or_of_unknown_length_is_refused_before_it_is_read(small):
    status, answer = await post(small, "/api/flows", data=b"x" * 40_000, headers={"X-Local-Duel": "1", "content-type": "multipart/form-data; boundary=b"})
    assert status == 413 and "at most 18432 are read" in answer["detail"]

    async def endless():
        for _ in range(3):
            yield b"x" * 1000

    status, answer = await post(small, "/api/flows", data=endless(), headers={"X-Local-Duel": "1", "content-type": "multipart/form-data; boundary=b"})
    assert status == 411 and "Content-Length" in answer["detail"]


async def test_turns_per_phase_follow_the_setting(small):
    status, answer = await upload(small, "long.yaml", TWO_PHASES.replace("turns: 2}]\n", "turns: 5}]\n"))
    assert status == 422 and "`turns` is 5; this server allows at most 4 per phase" in answer["detail"]
