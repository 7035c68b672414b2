"""The stage across every replica: which duels are running or about to start, and where.

Admission is a booking in `Shared`: `POST /api/start` books a place for the ticket's
lifetime, the replica that redeems the ticket runs the duel and renews its place every
`LEASE_SECONDS / 3`, and the place is given back when the duel ends. A replica that is
killed stops renewing, so its duels stop counting within `LEASE_SECONDS`. A watch token
names the duel and, once it runs, the replica running it.
"""

import asyncio
import json
import time
from dataclasses import dataclass

from loguru import logger
from redis import RedisError

from local_duel.engine import Engine
from local_duel.shared import Shared

LEASE_SECONDS = 10.0
PLACES = "stage"


@dataclass(frozen=True)
class Where:
    duel_id: str
    replica: str | None  # None: the ticket is not redeemed yet


class Stage:
    def __init__(self, shared: Shared, replica: str):
        self._shared = shared
        self.replica = replica

    async def book(self, duel_id: str, watch: str, limit: int, seconds: float) -> bool:
        """A place for a duel about to start, unless `limit` are taken."""
        if not await self._shared.book(PLACES, duel_id, time.time() + seconds, limit):
            return False
        await self._shared.put(f"watch:{watch}", json.dumps({"duel_id": duel_id, "replica": None}), seconds)
        return True

    async def open(self, duel_id: str, watch: str) -> None:
        """The duel runs here now."""
        await self.renew({duel_id: watch})

    async def renew(self, running: dict[str, str]) -> None:
        """Keep this replica's duels (id → watch token) on the stage for another lease."""
        for duel_id, watch in running.items():
            await self._shared.renew(PLACES, duel_id, time.time() + LEASE_SECONDS)
            await self._shared.put(f"watch:{watch}", json.dumps({"duel_id": duel_id, "replica": self.replica}), LEASE_SECONDS)

    async def close(self, duel_id: str, watch: str) -> None:
        await self._shared.unbook(PLACES, duel_id)
        await self._shared.delete(f"watch:{watch}")

    async def find(self, watch: str) -> Where | None:
        kept = await self._shared.get(f"watch:{watch}") if watch else None
        return Where(**json.loads(kept)) if kept else None

    async def size(self) -> int:
        """Duels running or about to start, on every replica."""
        return await self._shared.booked(PLACES)


async def hold_places(stage: Stage, engine: Engine, duels: dict) -> None:
    """Forever: renew the places, and the LLM seats, of the duels this replica runs
    (`duels`: id → LiveDuel)."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            await stage.renew({live.id: live.watch for live in duels.values()})
            for live in list(duels.values()):
                await engine.renew(live.llm_url, live.id, LEASE_SECONDS)
        except RedisError as e:  # Redis may be back next time; until then the leases run down
            logger.error(f"the stage could not renew this replica's duels: {e}")
