"""Error answers that name what was wrong and can't fail themselves.

FastAPI's own answers echo the offending input, and encoding that input can be what
fails: a list nested thousands deep exhausts the recursion limit, and a lone surrogate
(`"\\ud800"` is valid JSON) can't be encoded as UTF-8. Either turned a 422 into a 500.
And an answer is bounded: a 57 KB upload broken everywhere once got a 441 KB list of
what was wrong; the first problems say as much.
"""

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path


class SafeJSONResponse(JSONResponse):
    """JSON whose strings may hold lone surrogates: they go out as `\\udXXX` escapes."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


MAX_PROBLEMS = 20
MAX_TEXT = 2000  # characters of one message


def bounded(detail: Any) -> Any:
    """The detail with at most `MAX_PROBLEMS` problems and `MAX_TEXT` characters a message."""
    if isinstance(detail, str):
        return detail if len(detail) <= MAX_TEXT else f"{detail[:MAX_TEXT]}… ({len(detail) - MAX_TEXT} more characters)"
    if isinstance(detail, list):
        kept = [bounded(d) for d in detail[:MAX_PROBLEMS]]
        return kept + ([f"… and {len(detail) - MAX_PROBLEMS} more problems"] if len(detail) > MAX_PROBLEMS else [])
    if isinstance(detail, dict):
        return {k: bounded(v) for k, v in detail.items()}
    return detail


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field and why, without echoing the input."""
    problems = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return SafeJSONResponse({"detail": bounded(problems)}, 422)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, RecursionError):  # FastAPI's 400 for a JSON body json.loads can't recurse through
        problem = {"loc": ["body"], "msg": "the JSON nests too deep to read", "type": "json_too_deep"}
        return SafeJSONResponse({"detail": [problem]}, 422)
    if exc.status_code in (404, 405):
        # Starlette names only the first route's methods, and the page, mounted at `/`,
        # answers 404 (or 405: GET, HEAD) for a method an API path doesn't have.
        allowed = _spec_methods(request)
        if allowed and request.method not in allowed:
            return SafeJSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": ", ".join(sorted(allowed))})
    return SafeJSONResponse({"detail": bounded(exc.detail)}, exc.status_code, headers=exc.headers)


def _spec_methods(request: Request) -> set[str]:
    """The methods the OpenAPI spec lists for the request's path; none for the page."""
    return {
        method.upper()
        for path, operations in request.app.openapi()["paths"].items()
        if compile_path(path)[0].match(request.url.path)
        for method in operations
    }


HANDLERS = {RequestValidationError: invalid_request, HTTPException: http_error}
