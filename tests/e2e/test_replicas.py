"""Two real replicas (`local-duel serve` processes) sharing one real Redis, one real
PostgreSQL and a pool of two real `llama-server`s, with Debian's real nginx in front
(proxy/nginx.conf), all on loopback: whatever one replica hands out, the other honours."""

import asyncio
import subprocess
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import numpy as np
import pytest
import websockets
from pytest_postgresql.janitor import DatabaseJanitor

from helpers import copy_of_flows, nginx, nginx_conf, server_process, serving
from local_duel.bench.crowd import gather_crowd
from local_duel.bench.listener import Heard, hear
from local_duel.bench.serve import wait_until_answered
from local_duel.core.child import end, free_port
from redis_server import emptied
from test_audience import send
from test_hostile_input import first_event
from test_pool import llm_server, stage_is_free, watch
from test_stream import CAST, closing_reason, health, post

DUEL = {"cast": CAST, "topic": "tea", "turns": 1}
SLOTS = 1  # per LLM server: the stage holds two duels, across both replicas


@pytest.fixture(scope="module")
def cluster(offline, tmp_path_factory, redis_server, postgresql_server):
    """Replicas A and B (`replica-1`, `replica-2`), and the proxy's base URL."""
    folder = tmp_path_factory.mktemp("replicas")
    flows = copy_of_flows(folder)
    host, port = postgresql_server.host, postgresql_server.port
    with DatabaseJanitor(user="postgres", host=host, port=port, dbname="replicas", password=""), \
            (folder / "llm.log").open("w") as llm_log, llm_server(llm_log, SLOTS) as one, llm_server(llm_log, SLOTS) as two:
        env = {
            "LOCAL_DUEL_REDIS_URL": emptied(redis_server),
            "LOCAL_DUEL_DATABASE_URL": f"postgresql://postgres@{host}:{port}/replicas",
            "LOCAL_DUEL_LLM_URLS": f'["{one[0]}/v1", "{two[0]}/v1"]',
            "LOCAL_DUEL_DRAFTS": "1",
            "LOCAL_DUEL_STARTS_PER_MINUTE": "1000",
        }
        with (folder / "a.log").open("w") as log_a, (folder / "b.log").open("w") as log_b, \
                serving(flows, log_a, {**env, "LOCAL_DUEL_REPLICA": "replica-1"}) as a, \
                serving(flows, log_b, {**env, "LOCAL_DUEL_REPLICA": "replica-2"}) as b:
            listen = free_port()
            conf = nginx_conf(folder, listen, {"replica-1": int(a.rsplit(":", 1)[1]), "replica-2": int(b.rsplit(":", 1)[1])})
            proxy = subprocess.Popen(nginx(conf, "-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                wait_until_answered(f"http://127.0.0.1:{listen}/api/health", proxy, within=20)
                yield a, b, f"http://127.0.0.1:{listen}"
            finally:
                end(proxy, patience=5)


def at(url: str, base: str) -> str:
    """`url` (a WebSocket URL one replica handed out) sent to the replica at `base` instead."""
    return urlunsplit(urlsplit(url)._replace(netloc=urlsplit(base).netloc))


async def test_a_ticket_from_a_runs_its_duel_at_b_and_the_stage_counts_it_everywhere(cluster):
    a, b, _ = cluster
    status, ticket = await post(a, "/api/start", json=DUEL)
    assert status == 200
    async with websockets.connect(at(ticket["wsUrl"], b), max_size=None) as socket:
        assert (await first_event(socket, "line-started"))["turn"] == 1
        assert (await health(b))["duels_running"] == 1 and (await health(a))["duels_running"] == 0
        async with websockets.connect(at(ticket["watchWsUrl"], a), max_size=None) as relayed:  # A relays B's duel
            assert (await first_event(relayed, "duel-state"))["cast"]
        assert (await closing_reason(ticket["wsUrl"]))[1].startswith("invalid or expired token")  # once, anywhere
        # the stage holds two (one seat at each LLM server): one more from either replica, then 429 from both
        status, extra = await post(b, "/api/start", json=DUEL)
        assert status == 200
        for base in (a, b):
            status, refused = await post(base, "/api/start", json=DUEL)
            assert status == 429 and "the stage is full: 2 duels" in refused["detail"]
        async with asyncio.timeout(120):
            await first_event(socket, "duel-ended")
    async with websockets.connect(extra["wsUrl"], max_size=None) as socket:  # the booked ticket is honoured too
        async with asyncio.timeout(120):
            await first_event(socket, "duel-ended")
    await stage_is_free(a)
    await stage_is_free(b)
    async with aiohttp.ClientSession() as http:  # one history: A lists the duel B ran
        async with http.get(f"{a}/api/duels/{ticket['duel_id']}") as response:
            assert response.status == 200 and (await response.json())["status"] == "complete"


async def test_through_the_proxy_the_host_and_a_viewer_reach_the_replica_running_the_duel(cluster):
    a, b, proxy = cluster
    seen = set()
    for _ in range(4):  # the proxy spreads starts over both replicas
        status, ticket = await post(proxy, "/api/start", json=DUEL)
        assert status == 200
        replica = parse_qs(urlsplit(ticket["wsUrl"]).query)["replica"][0]
        assert urlsplit(ticket["wsUrl"]).netloc == urlsplit(proxy).netloc
        assert parse_qs(urlsplit(ticket["watchWsUrl"]).query)["replica"] == [replica]
        (host_socket, host), started = await watch(ticket["wsUrl"]), time.monotonic()
        host = await hear(host_socket, host, started, on_event=lambda h: bool(h.named("line-ended")))
        viewer_socket, viewer = await watch(ticket["watchWsUrl"])  # joins late, through the proxy
        heard: list[Heard] = await asyncio.gather(
            hear(host_socket, host, started, timeout=120), hear(viewer_socket, viewer, started, timeout=120)
        )
        running_at = a if replica == "replica-1" else b
        assert heard[1].named("duel-state") and heard[1].named("duel-state")[0]["transcript"]
        assert heard[0].named("duel-ended") and heard[1].named("duel-ended")
        # the viewer heard the same bytes as the host, from where it joined
        host_sound = heard[0].sound
        viewer_sound = heard[1].sound
        assert viewer_sound and host_sound.endswith(viewer_sound)
        assert np.frombuffer(viewer_sound, np.int16).any()
        for socket in (host_socket, viewer_socket):
            await socket.close()
        await stage_is_free(running_at)
        seen.add(replica)
        if seen == {"replica-1", "replica-2"}:
            return
    raise AssertionError(f"every start through the proxy landed on {seen}")


async def hosted_at(base: str) -> tuple[dict, websockets.ClientConnection, Heard, float]:
    """A duel started and hosted at `base`, heard until its first line has been spoken."""
    status, ticket = await post(base, "/api/start", json=DUEL)
    assert status == 200
    (socket, host), started = await watch(ticket["wsUrl"]), time.monotonic()
    host = await hear(socket, host, started, on_event=lambda h: bool(h.named("line-ended")))
    return ticket, socket, host, started


async def test_a_viewer_at_the_other_replica_gets_the_same_stream_and_heckles_and_votes_through_redis(cluster):
    a, b, _ = cluster
    ticket, host_socket, host, started = await hosted_at(a)
    viewer_socket, viewer = await watch(at(ticket["watchWsUrl"], b))  # late, and elsewhere
    await send(viewer_socket, "skip")  # a watch link can't steer the duel, from any replica
    await send(viewer_socket, "heckle", {"text": "Tea or coffee, Ava?"})
    await send(viewer_socket, "heckle", {"text": "Answer me!"})
    await send(viewer_socket, "vote", {"side": "second"})
    host, viewer = await asyncio.gather(hear(host_socket, host, started, timeout=120), hear(viewer_socket, viewer, started, timeout=120))
    state = viewer.named("duel-state")[0]
    assert state["transcript"] and state["cast"] == host.named("duel-started")[0]["cast"]
    assert viewer.named("duel-ended") and host.named("duel-ended")
    # A took B's viewer's acts as its own: the answers to it alone went back to B
    assert [(e["action"], e["code"]) for e in viewer.named("refused")] == [("skip", "forbidden"), ("heckle", "rate-limited")]
    for heard in (host, viewer):
        assert [e["text"] for e in heard.named("heckle")] == ["Tea or coffee, Ava?"]
        assert heard.named("duel-ended")[0]["votes"] == {"first": 0, "second": 1}
    assert host.named("refused") == []
    viewer_sound = viewer.sound
    assert np.frombuffer(viewer_sound, np.int16).any()
    assert host.sound.endswith(viewer_sound)
    for socket in (host_socket, viewer_socket):
        await socket.close()
    await stage_is_free(a)


async def test_a_crowd_split_across_both_replicas_hears_the_hosts_very_bytes(cluster):
    """20 viewers of A's duel, every second one watching through B: all hear it whole."""
    a, b, _ = cluster
    crowd = await gather_crowd(a, DUEL, viewers=20, elsewhere=b, timeout=120)
    assert crowd.host.named("duel-ended") and np.frombuffer(crowd.host.sound, np.int16).any()
    for viewer in crowd.viewers:  # the relayed half too, each from before the first line
        assert viewer.named("duel-ended") and viewer.sound == crowd.host.sound
    await stage_is_free(a)


async def test_when_the_running_replica_dies_its_viewers_elsewhere_are_told_within_2_s(cluster):
    """Last in the module: it kills replica A."""
    a, b, _ = cluster
    ticket, host_socket, _, _ = await hosted_at(a)
    viewers = [await watch(at(ticket["watchWsUrl"], b)) for _ in range(3)]
    for socket, heard in viewers:
        await hear(socket, heard, time.monotonic(), on_event=lambda h: bool(h.named("duel-state")))
    server_process(a).kill()
    killed = time.monotonic()
    told = await asyncio.gather(*(hear(s, h, killed, timeout=10) for s, h in viewers))
    for heard in told:
        at_, error = next((at_, e) for at_, e in heard.events if e["event"] == "error")
        assert error["code"] == "replica-gone" and error["fatal"] and at_ < 2.0
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{b}/api/duels/{ticket['duel_id']}") as response:
            assert (await response.json())["status"] == "interrupted"
    await host_socket.close()
