"""Only our own page talks to us.

The server listens on loopback, but a browser will carry any website's requests there:
a form post (no preflight) could upload flows, a WebSocket could run duels, and with DNS
rebinding a foreign name resolving to 127.0.0.1 could read everything. So:

- the Host header must name this server (Starlette's `TrustedHostMiddleware`: loopback,
  the listen address and `LOCAL_DUEL_ALLOWED_HOSTS`), else 400;
- a state-changing request or a WebSocket that a browser sent from another origin is
  refused with 403 (`SameOrigin`); clients that send no Origin are not browsers;
- an upload must carry the `X-Local-Duel` header, which makes it a non-simple request
  that no other site can send without a CORS preflight this server never grants.
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Header, HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from local_duel.settings import Settings

LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]
WILDCARDS = {"0.0.0.0", "::", ""}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PAGE_HEADER = "X-Local-Duel"


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
                await JSONResponse({"detail": reason}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
