"""`local-duel serve --lan`: a room of phones on the LAN, behind an access code.

Loopback stays the default. With `--lan` the server listens on every address, answers
to the machine's LAN address (besides loopback), and lets nothing through without the
access code: every request and WebSocket carries it as `?code=` (the printed link and
every watch link do) or as the cookie the first such request sets. The Host and Origin
checks of `guard.py` still apply on top.
"""

import secrets
import socket
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "local_duel_code"


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
    """ASGI middleware: 401 (or a refused WebSocket) without the access code."""

    def __init__(self, app: ASGIApp, code: str | None):
        self.app = app
        self.code = code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.code or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get("code", [""])[0]
        cookie = SimpleCookie(Headers(scope=scope).get("cookie", ""))
        kept = cookie[COOKIE].value if COOKIE in cookie else ""
        if secrets.compare_digest(given.encode(), self.code.encode()):
            await self.app(scope, receive, self._keep(send))
        elif secrets.compare_digest(kept.encode(), self.code.encode()):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "this server is in LAN mode: the access code is missing or wrong"})
        else:
            detail = "this server is in LAN mode: open it with its link, which carries the access code (?code=…)"
            await JSONResponse({"detail": detail}, 401)(scope, receive, send)

    def _keep(self, send: Send) -> Send:
        """Set the cookie on the answer to a request that carried the code in its URL, so
        the page's own requests need not."""
        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{COOKIE}={self.code}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", value.encode())]}
            await send(message)
        return with_cookie
