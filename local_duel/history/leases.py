"""Who runs which duel: a running duel belongs to an owner, whose claim lapses unless
renewed. That is how a duel left running by a killed server becomes `interrupted`: at
once when the same server comes back, or within a lease when another replica sweeps."""

import asyncio
import socket

from loguru import logger

from local_duel.history.store import LEASE, DuelStore


def owner_id(role: str) -> str:
    """A restarted server on the same host and port is the same owner, so it recovers
    its own duels as it starts; a render is its own process."""
    return f"{socket.gethostname()} {role}"


async def hold_leases(store: DuelStore, owner: str) -> None:
    """Forever: renew this owner's claims, and mark duels whose claim lapsed as interrupted."""
    while True:
        await asyncio.sleep(LEASE.total_seconds() / 4)
        try:
            await store.renew(owner)
            if lapsed := await store.recover():
                logger.warning(f"duels left running by a server that went away, now interrupted: {lapsed}")
        except Exception as e:  # the database may be back next time
            logger.error(f"the duel history could not renew its leases: {e}")
