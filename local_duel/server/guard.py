"""Only our own page talks to us.

The server listens on loopback, but a browser will carry any website's requests there:
a form post (no preflight) could upload flows, a WebSocket could run duels, and with DNS
rebinding a foreign name resolving to 127.0.0.1 could read everything. So:

- the Host header must name this server (Starlette's `TrustedHostMiddleware`: loopback,
  the listen address and `LOCAL_DUEL_ALLOWED_HOSTS`), else 400;
- a state-changing request or a WebSocket that a browser sent from another origin is
  refused with 403 (`SameOrigin`); clients that send no Origin are not browsers;
- an upload must carry the `X-Local-Duel` header, which makes it a non-simple request
  that no other site can send without a CORS preflight this server never grants;
- every answer says that no other site may frame the page (so none can overlay Start or
  Delete), what the page may load (only its own scripts, and sockets to this server), and
  to send no Referer (a watch link's token stays on the page) (`PageHeaders`).
"""

import secrets
from http.cookies import SimpleCookie
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Header, HTTPException
from loguru import logger
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local_duel.core.settings import Settings

LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]
WILDCARDS = {"0.0.0.0", "::", ""}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PAGE_HEADER = "X-Local-Duel"
VIEWER_COOKIE = "local_duel_viewer"  # who a browser is, across its sockets: one vote each (server/live.py)
# The page's own scripts; the Pipecat transport's audio worklet comes from a blob URL, and
# mermaid styles its diagram inline.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self' blob:", "worker-src 'self' blob:", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:", "media-src 'self' blob: data:", "font-src 'self' data:", "connect-src 'self'",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
))
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def allowed_hosts(settings: Settings) -> list[str]:
    """Loopback, the address `serve` listens on (unless it is every address), and the
    hosts named in `LOCAL_DUEL_ALLOWED_HOSTS`."""
    own = [] if settings.host in WILDCARDS else [f"[{settings.host}]" if ":" in settings.host else settings.host]
    return list(dict.fromkeys([*LOOPBACK, *own, *settings.allowed_hosts]))


class SameOrigin:
    """ASGI middleware: 403 for a POST or a WebSocket whose Origin is not this server."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] == "websocket" or (scope["type"] == "http" and scope["method"] not in SAFE_METHODS)
        if guarded:
            headers = Headers(scope=scope)
            origin, host = headers.get("origin"), headers.get("host", "")
            secure = scope["scheme"] in ("https", "wss")
            if origin is not None and not _same_origin(origin, host, secure):
                reason = (
                    f"Origin '{origin}' is not this server ('{host}'): only the Local Duel page it serves "
                    f"may {'open a duel' if scope['type'] == 'websocket' else 'change anything'}"
                )
                if scope["type"] == "websocket":
                    await close_socket(receive, send, reason)
                else:
                    await JSONResponse({"detail": reason}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def close_socket(receive: Receive, send: Send, reason: str) -> None:
    """Refuse a WebSocket so that the client sees why: accepted, then closed with the
    reason (a handshake refused outright reaches a browser as a bare 403). A refusal is
    the server working as meant, logged at INFO."""
    logger.info(f"refused a WebSocket: {reason}")
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1008, "reason": reason.encode()[:123].decode(errors="ignore")})


def _same_origin(origin: str, host: str, secure: bool) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == ("https" if secure else "http") and parts.netloc.lower() == host.lower()


def from_the_page(
    x_local_duel: Annotated[
        str | None, Header(description="Any value; required on uploads so that no other website can send one.")
    ] = None,
) -> None:
    """Uploads need the page's header (a dependency of the upload route)."""
    if not x_local_duel:
        raise HTTPException(403, f"uploads need the header `{PAGE_HEADER}: 1`, which the Local Duel page sends")


class PageHeaders:
    """ASGI middleware: the security headers on every answer, and a viewer cookie on the
    page for a browser that has none yet."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie(Headers(scope=scope).get("cookie", ""))
        new_viewer = scope["path"] in ("/", "/index.html") and VIEWER_COOKIE not in cookie

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if new_viewer:
                    value = f"{VIEWER_COOKIE}={secrets.token_urlsafe(12)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
                    headers.append((b"set-cookie", value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def voter(websocket_scope: Scope) -> str:
    """Who casts a viewer socket's vote: the browser's viewer cookie, else the client's
    address, so that reconnecting never adds a vote."""
    cookie = SimpleCookie(Headers(scope=websocket_scope).get("cookie", ""))
    if VIEWER_COOKIE in cookie and cookie[VIEWER_COOKIE].value:
        return f"cookie {cookie[VIEWER_COOKIE].value[:64]}"
    client = websocket_scope.get("client")
    return f"address {client[0] if client else 'unknown'}"
