"""WebSocket tickets: `POST /api/start` issues one, `/ws` redeems it once to start the
duel, at any replica (they are kept in `Shared`). Each ticket also carries the duel's
watch token, which viewers use (any number of times) once the duel runs."""

import json
import secrets
from dataclasses import dataclass

from local_duel.core.settings import PromptStyle
from local_duel.core.shared import Shared
from local_duel.server.schemas import DuelRequest

TICKET_SECONDS = 60.0


@dataclass
class Ticket:
    duel_id: str
    request: DuelRequest
    views: dict[str, PromptStyle]
    watch: str  # the viewers' token
    llm_url: str = ""  # the LLM server the duel is seated at

    @classmethod
    def new(cls, request: DuelRequest, views: dict[str, PromptStyle]) -> "Ticket":
        return cls(secrets.token_hex(6), request, views, secrets.token_urlsafe(24))


class Tickets:
    """Tokens that start a duel once, and expire unused after `lifetime` seconds."""

    def __init__(self, shared: Shared, lifetime: float = TICKET_SECONDS):
        self._shared = shared
        self.lifetime = lifetime

    async def issue(self, ticket: Ticket) -> str:
        token = secrets.token_urlsafe(24)
        kept = {"duel_id": ticket.duel_id, "request": ticket.request.model_dump(mode="json"), "views": ticket.views, "watch": ticket.watch, "llm_url": ticket.llm_url}
        await self._shared.put(f"ticket:{token}", json.dumps(kept), self.lifetime)
        return token

    async def redeem(self, token: str) -> Ticket | None:
        kept = await self._shared.take(f"ticket:{token}") if token else None
        if kept is None:
            return None
        kept = json.loads(kept)
        return Ticket(kept["duel_id"], DuelRequest.model_validate(kept["request"]), kept["views"], kept["watch"], kept["llm_url"])
