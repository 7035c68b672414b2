"""How much one client may ask of the server: start requests per minute, and the size
of a request body. Each refusal names the limit and the setting that raises it."""

import math

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from local_duel.core.shared import Shared

WINDOW = 60.0  # seconds
ENVELOPE = 16 * 1024  # multipart headers and boundaries around an uploaded file


class RateLimited(Exception):
    def __init__(self, retry_after: int, message: str):
        super().__init__(message)
        self.retry_after = retry_after


class StartRate:
    """At most `per_minute` duel starts per client address in a minute, counted from its
    first start (a fixed window in `Shared`, so every replica counts the same starts)."""

    def __init__(self, shared: Shared, per_minute: int):
        self._shared = shared
        self.per_minute = per_minute

    async def admit(self, client: str) -> None:
        """Count a start by `client`, or raise `RateLimited` saying when to try again."""
        starts, left = await self._shared.count(f"starts:{client}", WINDOW)
        if starts > self.per_minute:
            wait = max(1, math.ceil(left))
            raise RateLimited(wait, (
                f"too many duel starts from {client}: at most {self.per_minute} a minute "
                f"(LOCAL_DUEL_STARTS_PER_MINUTE); try again in {wait} s"
            ))


class BodyLimit:
    """ASGI middleware: a request body larger than `max_bytes` is refused with 413 before
    it is read, and one of unknown length with 411, so nothing spools an endless upload."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            refusal = None
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
                refusal = (411, "send the request with a Content-Length")
            elif length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                refusal = (413, (
                    f"the request body is {length.decode(errors='replace')} bytes; at most {self.max_bytes} are read "
                    f"(a flow file of LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES plus {ENVELOPE // 1024} KiB of form)"
                ))
            if refusal:
                await JSONResponse({"detail": refusal[1]}, refusal[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)
