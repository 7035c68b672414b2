"""`local-duel serve --lan`: a room of phones on the LAN, behind an access code.

Loopback stays the default. With `--lan` the server listens on every address, answers
to the machine's LAN address (besides loopback), and has two roles:

- the host holds the access code: it comes as `?code=` (the printed link carries it) or
  as the cookie the first such request sets, and opens everything;
- a viewer holds a duel's watch link, which carries that duel's watch token and no code:
  it loads the page (`/?watch=…` and its assets) and opens that one duel's socket, whose
  route checks the token and gives it a viewer's rights (watch, vote, heckle). Every
  REST route, the API docs and the host's page stay closed to it.

The Host and Origin checks of `guard.py` still apply on top.
"""

import secrets
import socket
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local_duel.server.guard import close_socket

COOKIE = "local_duel_code"
REFUSED = "this server is in LAN mode and this needs the host's access code"
PAGE = ("/", "/index.html")
CLOSED = ("/api", "/docs", "/redoc", "/openapi.json")  # and the page itself, unless opened from a watch link


def viewer_may(scope: Scope, query: dict[str, list[str]]) -> bool:
    """What a watch link opens without the code: the duel's socket (its route checks the
    token), the page opened as `/?watch=…`, and the page's static files."""
    path = scope["path"]
    if scope["type"] == "websocket":
        return path == "/ws"
    if scope["method"] not in ("GET", "HEAD") or path.startswith(CLOSED):
        return False
    return path not in PAGE or bool(query.get("watch"))


def new_code() -> str:
    return secrets.token_urlsafe(9)


def lan_address() -> str:
    """This machine's address on the LAN: the one its default route leaves from. A UDP
    socket's connect only picks a route; no packet is sent."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere for real
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class AccessCode:
    """ASGI middleware: 401 (or a WebSocket closed saying why) without the access code,
    except for what a watch link opens (`viewer_may`)."""

    def __init__(self, app: ASGIApp, code: str | None):
        self.app = app
        self.code = code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.code or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
        given = query.get("code", [""])[0]
        cookie = SimpleCookie(Headers(scope=scope).get("cookie", ""))
        kept = cookie[COOKIE].value if COOKIE in cookie else ""
        if secrets.compare_digest(given.encode(), self.code.encode()):
            await self.app(scope, receive, self._keep(send))
        elif secrets.compare_digest(kept.encode(), self.code.encode()) or viewer_may(scope, query):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await close_socket(receive, send, REFUSED)
        else:
            await JSONResponse({"detail": f"{REFUSED}: open it with its link (?code=…)"}, 401)(scope, receive, send)

    def _keep(self, send: Send) -> Send:
        """Set the cookie on the answer to a request that carried the code in its URL, so
        the page's own requests need not."""
        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{COOKIE}={self.code}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", value.encode())]}
            await send(message)
        return with_cookie
