"""Other websites can't reach the server: a foreign Host (DNS rebinding) is refused
everywhere, a foreign Origin on uploads, starts and the WebSocket, and an upload needs
the page's own header. Over real HTTP and a real WebSocket to the real server."""

import aiohttp
import pytest
import websockets

from local_duel.server.guard import VIEWER_COOKIE
from test_hostile_input import hang_up
from test_stream import CAST, TWO_PHASES, post, upload

EVIL = "http://evil.example"


async def test_a_foreign_origin_can_not_overwrite_a_flow(server):
    assert (await upload(server, "mine.yaml", TWO_PHASES))[0] == 201
    hostile = TWO_PHASES.replace("They tease each other.", "Pwned.")
    status, answer = await upload(server, "mine.yaml", hostile, headers={"X-Local-Duel": "1", "Origin": EVIL})
    assert status == 403 and answer["detail"].startswith(f"Origin '{EVIL}' is not this server")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/api/flows/mine") as response:
            assert "Pwned." not in str(await response.json())


async def test_an_upload_without_the_page_header_is_refused(server):
    """A multipart form post is a "simple" request a browser sends from any site without
    asking; the required header makes it one that needs a preflight, never granted."""
    status, answer = await upload(server, "simple.yaml", TWO_PHASES, headers={})
    assert status == 403 and "X-Local-Duel" in answer["detail"]


async def test_the_page_own_origin_may_upload_and_start(server):
    own = {"Origin": server}
    assert (await upload(server, "own.yaml", TWO_PHASES, headers={"X-Local-Duel": "1", **own}))[0] == 201
    status, ticket = await post(server, "/api/start", json={"cast": CAST, "topic": "tea"}, headers=own)
    assert status == 200
    await hang_up(ticket)


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1"])
async def test_a_foreign_origin_can_not_start_a_duel(server, origin):
    status, answer = await post(server, "/api/start", json={"cast": CAST, "topic": "tea"}, headers={"Origin": origin})
    assert status == 403 and f"Origin '{origin}'" in answer["detail"]


async def test_a_foreign_origin_can_not_open_the_duel_socket(server):
    status, ticket = await post(server, "/api/start", json={"cast": CAST, "topic": "tea"})
    assert status == 200
    with pytest.raises(websockets.ConnectionClosed) as refused:  # accepted, then closed saying why
        async with websockets.connect(ticket["wsUrl"], origin=EVIL) as socket:
            await socket.recv()
    assert refused.value.rcvd.code == 1008 and "may open a duel" in refused.value.rcvd.reason
    async with websockets.connect(ticket["wsUrl"], origin=server):  # the token was not used up
        pass


@pytest.mark.parametrize("method, path", [("GET", "/api/flows"), ("POST", "/api/start"), ("GET", "/")])
async def test_a_foreign_host_is_refused_everywhere(server, method, path):
    """DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends its name."""
    port = server.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{server}{path}", json={"cast": CAST, "topic": "tea"}, headers={"Host": f"evil.example:{port}"}) as response:
            assert response.status == 400 and await response.text() == "Invalid host header"


async def test_a_foreign_host_can_not_open_the_duel_socket(server):
    status, ticket = await post(server, "/api/start", json={"cast": CAST, "topic": "tea"})
    port = int(server.rsplit(":", 1)[1])
    rebound = ticket["wsUrl"].replace("127.0.0.1", "evil.example")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(rebound, host="127.0.0.1", port=port):  # the name, resolved to loopback
            pass
    assert refused.value.response.status_code == 400
    await hang_up(ticket)


async def test_localhost_is_as_good_as_127_0_0_1(server):
    port = server.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/api/flows", headers={"Host": f"localhost:{port}"}) as response:
            assert response.status == 200


async def test_every_answer_forbids_framing_and_the_page_gives_each_browser_a_viewer_cookie(server):
    """No other site may frame the page (and overlay Start or Delete); the page loads only
    its own scripts; a watch link's token is never sent on as a Referer. Refusals carry the
    headers too. The page's answer gives a new browser its viewer cookie, once."""
    async with aiohttp.ClientSession() as http:
        for url in (f"{server}/", f"{server}/api/flows", f"{server}/api/duels/nope"):
            async with http.get(url) as response:
                assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], url
                assert "script-src 'self' blob:" in response.headers["Content-Security-Policy"]
                assert response.headers["X-Frame-Options"] == "DENY"
                assert response.headers["Referrer-Policy"] == "no-referrer"
        async with http.get(f"{server}/?watch=abc") as response:
            assert VIEWER_COOKIE in response.cookies and len(response.cookies[VIEWER_COOKIE].value) >= 16
        async with http.get(f"{server}/", headers={"Cookie": f"{VIEWER_COOKIE}=mine"}) as response:
            assert VIEWER_COOKIE not in response.cookies
