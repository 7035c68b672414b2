"""WebSocket tickets: `POST /api/start` issues one, `/ws` redeems it once to start the
duel. Each ticket also carries the duel's watch token, which viewers use (any number of
times) once the duel runs."""

import secrets
import time
from dataclasses import dataclass

from local_duel.prompt_style import PromptStyle
from local_duel.server.schemas import DuelRequest

TICKET_SECONDS = 60.0


@dataclass
class Ticket:
    duel_id: str
    request: DuelRequest
    views: dict[str, PromptStyle]
    expires: float
    watch: str  # the viewers' token


class Tickets:
    """Tokens that start a duel once, and expire unused after `TICKET_SECONDS`."""

    def __init__(self, lifetime: float = TICKET_SECONDS):
        self._lifetime = lifetime
        self._open: dict[str, Ticket] = {}

    def pending(self) -> int:
        """Tickets issued and not yet redeemed or expired: duels about to start."""
        now = time.monotonic()
        self._open = {t: k for t, k in self._open.items() if k.expires > now}
        return len(self._open)

    def issue(self, request: DuelRequest, views: dict[str, PromptStyle]) -> tuple[str, Ticket]:
        now = time.monotonic()
        self.pending()  # forget the expired ones
        token = secrets.token_urlsafe(24)
        ticket = Ticket(secrets.token_hex(6), request, views, now + self._lifetime, secrets.token_urlsafe(24))
        self._open[token] = ticket
        return token, ticket

    def watched(self, token: str) -> bool:
        """Whether `token` is the watch token of a duel about to start."""
        return any(ticket.watch == token for ticket in self._open.values())

    def redeem(self, token: str) -> Ticket | None:
        ticket = self._open.pop(token, None)
        return ticket if ticket and ticket.expires > time.monotonic() else None
