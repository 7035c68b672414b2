"""`local-duel serve --lan` for real: the server listens on every address and is reached
on this machine's own non-loopback address, the way a phone on the LAN reaches it.

No packet leaves the machine: the kernel delivers to its own addresses locally, which
is why the offline guard allows them (tests/offline/offline_guard.py). The LAN address
is given as `LOCAL_DUEL_LAN_ADDRESS`; finding it from the default route
(`lan.lan_address`) would take a UDP connect to a non-local address, which the guard
refuses.
"""

import ipaddress
import re
import socket
import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psutil
import pytest
import websockets

from helpers import copy_of_flows
from local_duel.bench.crowd import ready
from local_duel.bench.listener import Heard, hear
from local_duel.bench.serve import STARTUP_SECONDS, ServerProcess, wait_until_answered
from local_duel.server.lan import COOKIE
from test_audience import CAST, send


def own_address() -> str | None:
    """An IPv4 address of this machine's own interfaces that isn't loopback."""
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return a.address
    return None


@pytest.fixture(scope="module")
def lan(tmp_path_factory):
    """The server in LAN mode, on this machine's LAN address; yields the link it prints."""
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve a LAN on")
    folder = tmp_path_factory.mktemp("lan")
    env = {"LOCAL_DUEL_FLOWS_DIR": str(copy_of_flows(folder)), "LOCAL_DUEL_LAN_ADDRESS": address}
    with (folder / "server.log").open("w+") as log:
        server = ServerProcess(env, log=log, args=("--lan",))
        server.start()
        try:
            deadline = time.monotonic() + 60
            while not (printed := re.search(r"http://\S+/\?code=\S+", (folder / "server.log").read_text())):
                assert server.process.poll() is None and time.monotonic() < deadline, "serve --lan printed no link"
                time.sleep(0.1)
            link = printed.group(0)
            assert link.startswith(f"http://{address}:{server.port}/?code=")
            wait_until_answered(link.replace("/?", "/api/health?"), server.process, STARTUP_SECONDS)
            yield link
        finally:
            server.stop()


def parts(link: str) -> tuple[str, str]:
    """The base URL and the access code of a printed link."""
    split = urlsplit(link)
    return f"{split.scheme}://{split.netloc}", parse_qs(split.query)["code"][0]


async def status(url: str, **kwargs) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, **kwargs) as response:
            return response.status


async def closed_with(url: str, **kwargs) -> websockets.ConnectionClosed:
    """How the server ended a socket it accepted and then refused."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with websockets.connect(url, **kwargs) as socket:
            await socket.recv()
    return closed.value


async def test_nothing_is_reachable_without_the_code(lan):
    base, code = parts(lan)
    loopback = base.replace(urlsplit(base).hostname, "127.0.0.1")
    for url in (f"{base}/", f"{base}/api/flows", f"{base}/api/health", f"{loopback}/api/flows", f"{base}/api/flows?code=wrong",
                f"{base}/docs", f"{base}/openapi.json"):
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 401, url
                assert "LAN mode" in (await response.json())["detail"]
    closed = await closed_with(f"{base.replace('http', 'ws')}/ws?token=anything")  # the reason reaches the client
    assert closed.rcvd.code == 1008 and "invalid or expired token" in closed.rcvd.reason


async def test_the_printed_link_opens_the_page_and_leaves_the_code_in_a_cookie(lan):
    base, code = parts(lan)
    # A browser keeps cookies for a server named by its IP address; aiohttp only if unsafe.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(lan) as response:
            assert response.status == 200 and "<html" in (await response.text()).lower()
            assert response.cookies[COOKIE].value == code
        async with http.get(f"{base}/api/flows") as response:  # the page's own requests: the cookie
            assert response.status == 200


async def test_a_watch_link_carries_a_viewers_right_only_and_names_the_lan_address(lan):
    """The watch link holds the duel's watch token, not the access code: with it a phone
    watches that duel and nothing else. No REST route, upload, start or delete; no host
    controls; the host's code still opens everything."""
    base, code = parts(lan)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/start?code={code}", json={"cast": CAST, "topic": "wifi", "turns": 1}) as response:
            assert response.status == 200
            ticket = await response.json()
    watch = parse_qs(urlsplit(ticket["watchUrl"]).query)["watch"][0]
    for url in (ticket["watchUrl"], ticket["watchWsUrl"]):
        assert url.split("://")[1].startswith(base.split("://")[1]) and "code" not in parse_qs(urlsplit(url).query)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as phone:
        async with phone.get(ticket["watchUrl"]) as response:  # the page, opened from the link
            assert response.status == 200 and COOKIE not in response.cookies
        refused = []
        for method, path in (("GET", "/api/flows"), ("GET", "/api/health"), ("GET", "/api/duels"),
                             ("GET", f"/api/duels/{ticket['duel_id']}"), ("POST", "/api/start"), ("POST", "/api/flows"),
                             ("DELETE", f"/api/duels/{ticket['duel_id']}"), ("GET", "/openapi.json")):
            for query in (f"?watch={watch}", f"?token={watch}"):
                async with phone.request(method, f"{base}{path}{query}", json={}, headers={"X-Local-Duel": "1"}) as response:
                    refused.append((method, path, response.status, "access code" in (await response.json())["detail"]))
        assert all(status == 401 and said for _, _, status, said in refused), [r for r in refused if r[2] != 401]
    host_heard, viewer_heard = Heard(), Heard()
    async with websockets.connect(ticket["wsUrl"], max_size=None) as host:  # the one-time ticket is the host's
        await ready(host)
        started = time.monotonic()
        await hear(host, host_heard, started, on_event=lambda h: bool(h.named("duel-started")))
        async with websockets.connect(ticket["watchWsUrl"], max_size=None) as viewer:  # a phone: the watch token only
            await ready(viewer)
            await send(viewer, "end")
            await hear(viewer, viewer_heard, started, on_event=lambda h: bool(h.named("line-text")))
    state = viewer_heard.named("duel-state")[0]
    assert state["cast"]["first"]["name"] == "Max" and not state["host"]
    assert [e["code"] for e in viewer_heard.named("refused")] == ["forbidden"]
    assert viewer_heard.named("line-text")[0]["speaker"] in ("Max", "Ava")
    async with aiohttp.ClientSession() as http:  # the host's code still opens everything
        async with http.get(f"{base}/api/duels/{ticket['duel_id']}?code={code}") as response:
            assert response.status in (200, 404)
        async with http.get(f"{base}/api/flows?code={code}") as response:
            assert response.status == 200
