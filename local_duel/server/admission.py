"""The stage across every replica: which duels are running or about to start, and where.

Admission is a booking in `Shared`: `POST /api/start` holds a place for `HOLD_SECONDS`
(a page opens its socket within milliseconds; a ticket nobody plays must not keep others
off the stage for its whole lifetime), the replica that redeems the ticket books it
again (if the stage is full by then, the ticket is refused) and renews it every
`LEASE_SECONDS / 3`, and the place is given back when the duel ends. A replica that is
killed stops renewing, so its duels stop counting within `LEASE_SECONDS`. A watch token
names the duel and, once it runs, the replica running it.
"""

import asyncio
import json
import math
import time
from dataclasses import dataclass

from loguru import logger
from redis import RedisError

from local_duel.core.settings import Settings
from local_duel.core.shared import Shared
from local_duel.engine import Engine
from local_duel.pipeline.pace import Pace
from local_duel.server.tickets import TICKET_SECONDS

LEASE_SECONDS = 10.0
HOLD_SECONDS = 5.0
RUNNING_RETRY_SECONDS = 10  # a full stage of running duels: about how often a short duel's line or two frees one
PLACES = "stage"


@dataclass(frozen=True)
class Where:
    duel_id: str
    replica: str | None  # None: the ticket is not redeemed yet


class Admission:
    """This replica's view of the stage: books, opens, renews and gives back duels' places."""

    def __init__(self, shared: Shared, replica: str):
        self._shared = shared
        self.replica = replica
        self._holds: dict[str, float] = {}  # duel id → when its unplayed ticket's place lapses (this replica's)

    async def book(self, duel_id: str, watch: str, limit: int, seconds: float = HOLD_SECONDS) -> bool:
        """A place for a duel whose ticket was just issued, for `seconds`, unless `limit` are taken."""
        lapse = time.time() + seconds
        if not await self._shared.book(PLACES, duel_id, lapse, limit):
            return False
        self._holds = {d: t for d, t in self._holds.items() if t > time.time()} | {duel_id: lapse}
        await self._shared.put(f"watch:{watch}", json.dumps({"duel_id": duel_id, "replica": None}), TICKET_SECONDS)
        return True

    async def open(self, duel_id: str, watch: str, limit: int) -> bool:
        """The duel runs here now, if it still has its place or can book one again."""
        self._holds.pop(duel_id, None)
        if not await self._shared.book(PLACES, duel_id, time.time() + LEASE_SECONDS, limit):
            return False
        await self.renew({duel_id: watch})
        return True

    def retry_after(self) -> int:
        """Seconds until a place frees: the next unplayed ticket's hold to lapse here, or
        a running duel's estimate."""
        now = time.time()
        lapses = [t - now for t in self._holds.values() if t > now]
        return math.ceil(min(lapses)) if lapses else RUNNING_RETRY_SECONDS

    async def renew(self, running: dict[str, str]) -> None:
        """Keep this replica's duels (id → watch token) on the stage for another lease."""
        for duel_id, watch in running.items():
            await self._shared.renew(PLACES, duel_id, time.time() + LEASE_SECONDS)
            await self._shared.put(f"watch:{watch}", json.dumps({"duel_id": duel_id, "replica": self.replica}), LEASE_SECONDS)

    async def close(self, duel_id: str, watch: str) -> None:
        self._holds.pop(duel_id, None)
        await self._shared.unbook(PLACES, duel_id)
        await self._shared.delete(f"watch:{watch}")

    async def find(self, watch: str) -> Where | None:
        kept = await self._shared.get(f"watch:{watch}") if watch else None
        return Where(**json.loads(kept)) if kept else None

    async def size(self) -> int:
        """Places taken, on every replica: duels running, and tickets issued and not yet played."""
        return await self._shared.booked(PLACES)


async def stage_size(settings: Settings, pace: Pace, engine: Engine) -> tuple[int, str]:
    """How many duels the stage takes now, and why that many."""
    most = await engine.capacity()
    if engine.kind == "pool":
        return most, "as many as the LLM servers have slots"
    if not settings.learn_stage or pace.stage >= most:
        return most, "as many as this server admits (LOCAL_DUEL_MAX_DUELS)"
    return pace.stage, f"as many as this machine has kept up with, of at most {most} (LOCAL_DUEL_MAX_DUELS)"


async def hold_places(admission: Admission, engine: Engine, duels: dict) -> None:
    """Forever: renew the places, and the LLM seats, of the duels this replica runs
    (`duels`: id → LiveDuel)."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            await admission.renew({live.id: live.watch for live in duels.values()})
            for live in list(duels.values()):
                await engine.renew(live.llm_url, live.id, LEASE_SECONDS)
        except RedisError as e:  # Redis may be back next time; until then the leases run down
            logger.error(f"the stage could not renew this replica's duels: {e}")
