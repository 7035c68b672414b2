"""What the routes and the duels share, typed: one `Services`, built when the server
starts (`Services.open`) and closed when it stops; a route asks for it as `Svc`."""

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException
from redis import asyncio as aioredis
from starlette.requests import HTTPConnection

from local_duel.core.settings import Settings
from local_duel.core.shared import Shared, shared_for
from local_duel.core.weights import voices_dir
from local_duel.engine import Engine, engine_for
from local_duel.history.leases import owner_id
from local_duel.history.revoice import Revoicing
from local_duel.history.store import DuelStore
from local_duel.pipeline.pace import Pace
from local_duel.pipeline.voice import Voices
from local_duel.server.admission import Admission
from local_duel.server.catalog import FlowCatalog
from local_duel.server.limits import StartRate
from local_duel.server.schemas import HealthState
from local_duel.server.tickets import Tickets
from local_duel.server.ws.relay import relay_client

if TYPE_CHECKING:
    from local_duel.server.ws.live import LiveDuel


@dataclass
class Services:
    """The server's one engine, voices, store and stage, and the duels running here."""

    settings: Settings
    owner: str  # this replica, as the history's leases and the stage name it
    shared: Shared  # Redis, or in-process: tickets, the stage, rate limits
    engine: Engine
    voices: Voices
    store: DuelStore
    revoicing: Revoicing
    pace: Pace  # this machine's drafts a line and duels at once, learned from every duel it runs
    catalog: FlowCatalog
    tickets: Tickets
    start_rate: StartRate
    admission: Admission
    relay: aioredis.Redis | None  # replicas: the duels' streams, for viewers on another replica
    duels: dict[str, "LiveDuel"] = field(default_factory=dict)  # duel id → LiveDuel, while it runs here
    running: set[asyncio.Task] = field(default_factory=set)  # the tasks running them
    ready: bool = False  # the engine and voices are warm
    warmup_error: str | None = None  # why they could not be

    @classmethod
    async def open(cls, settings: Settings) -> "Services":
        owner = owner_id(f"serve :{settings.port}")
        shared = shared_for(settings.redis_url)
        voices = Voices(voices_dir(settings.models_dir), settings.voice_threads)
        store = await DuelStore.open(settings)
        duels: dict[str, LiveDuel] = {}

        async def llm_gone(url: str) -> None:  # a pool's LLM server stopped answering: its duels are over
            for live in [live for live in duels.values() if live.llm_url == url]:
                await live.fail("llm-server-gone", f"the LLM server at {url} stopped answering; this duel is over")

        return cls(
            settings=settings,
            owner=owner,
            shared=shared,
            engine=engine_for(settings, shared, llm_gone),
            voices=voices,
            store=store,
            revoicing=Revoicing(store, voices, owner),
            pace=Pace(settings.drafts, settings.max_duels, running=lambda: len(duels)),
            catalog=FlowCatalog(settings.flows_dir, settings.max_turns_per_phase, settings.upload_max_files, settings.upload_max_bytes),
            tickets=Tickets(shared),
            start_rate=StartRate(shared, settings.starts_per_minute),
            admission=Admission(shared, owner),
            relay=relay_client(settings.redis_url) if settings.redis_url else None,
            duels=duels,
        )

    async def close(self) -> None:
        """Duels still on are stopped (and kept as stopped), then everything shut."""
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
        await self.revoicing.close()
        self.engine.stop()
        await self.store.close()
        await self.shared.close()
        if self.relay:
            await self.relay.aclose()


def services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


Svc = Annotated[Services, Depends(services)]


def unready(services: Services) -> tuple[HealthState, str] | None:
    """Why the engine is not there for duels yet, as the warm-up left it; None once it is."""
    if services.warmup_error:
        return "failed", f"the engine could not start: {services.warmup_error}"
    if not services.ready:
        return "warming", "the engine is warming up; try again in a few seconds"
    return None


def ready_engine(services: Svc) -> Engine:
    """The engine, once it is warm; 503 saying why not before that."""
    if not_ready := unready(services):
        raise HTTPException(503, not_ready[1])
    return services.engine


ReadyEngine = Annotated[Engine, Depends(ready_engine)]
