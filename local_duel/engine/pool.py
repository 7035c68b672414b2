"""The LLM pool: several OpenAI-compatible servers (llama-server instances, or Ollama) at
`LOCAL_DUEL_LLM_URLS`, shared by every replica.

Each duel is seated at one server for its whole life, so its screenplay stays in that
server's prompt cache and every turn pays only for its new line. A seat is a booking in
`Shared` (`llm:<url>`, renewed while the duel runs, lapsing if its replica dies), and a
server has as many seats as slots: the length of llama-server's `/slots`, or
`engine_slots` for a server without that endpoint (Ollama). So the stage's capacity is
the sum of the live servers' slots, counted across replicas, and a new duel sits at the
server with the most free seats.

A server that stops answering its health check is taken out: the duels seated there end
with an `llm-server-gone` error (`on_gone`), and new duels go to the others until it
answers again.

Why not a router in front, such as LiteLLM's proxy with least-busy routing: it spreads
each request by the requests it has in flight, so one duel's turns would wander between
servers and pay their whole prompt each time a cache is cold; it does not know a
llama-server's slots; and a dead server's requests are retried elsewhere rather than
its duels ended. Pinning by seat is the part that matters here, and it is this small.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from loguru import logger

from local_duel.core.settings import PromptStyle, Settings
from local_duel.core.shared import Shared
from local_duel.engine.base import (
    Engine,
    EngineError,
    ModelChoiceError,
    ModelInfo,
    answers,
    warm_at,
)
from local_duel.engine.prompt_style import prompt_style

CHECK_SECONDS = 0.5  # how often each server's health is asked: a dead one is noticed within a second
START_SECONDS = 60


def _seats(url: str) -> str:
    """The `Shared` booking of a server's seats."""
    return f"llm:{url}"


@dataclass
class Server:
    url: str  # the OpenAI-compatible base, …/v1
    slots: int = 0  # known once it has answered
    up: bool = False

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    @property
    def seats(self) -> str:
        return _seats(self.url)


class LlmPool(Engine):
    kind = "pool"

    def __init__(self, settings: Settings, shared: Shared, on_gone: Callable[[str], Awaitable[None]] | None = None):
        super().__init__(settings)
        self.servers = [Server(url.rstrip("/")) for url in settings.llm_urls]
        self.url = ", ".join(s.url for s in self.servers)  # for /api/health; a duel gets its own
        self.on_gone = on_gone  # told the URL of a server that stopped answering
        self._shared = shared
        self._watcher: asyncio.Task | None = None
        self._seating = asyncio.Lock()

    # -- the servers --------------------------------------------------------------------

    async def _check(self, server: Server) -> bool:
        """Whether it answers: llama-server's `/health`, or Ollama's model list."""
        up = await answers(f"{server.root}/health") or await answers(f"{server.url}/models")
        if up and not server.slots:
            server.slots = await _slots(server.root) or self.settings.engine_slots
        return up

    async def start(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not any([await self._mark(s) for s in self.servers]):
            if time.monotonic() > deadline:
                raise EngineError(f"none of the LLM servers answered within {START_SECONDS} s: {self.url}")
            await asyncio.sleep(CHECK_SECONDS)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _mark(self, server: Server) -> bool:
        was, server.up = server.up, await self._check(server)
        if was and not server.up:
            logger.error(f"the LLM server at {server.url} stopped answering; it is out of the pool")
            if self.on_gone:
                await self.on_gone(server.url)
        elif server.up and not was:
            logger.info(f"the LLM server at {server.url} is in the pool with {server.slots} slots")
        return server.up

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            await asyncio.gather(*(self._mark(s) for s in self.servers), return_exceptions=True)

    def stop(self) -> None:
        if self._watcher:
            self._watcher.cancel()
            self._watcher = None

    async def healthy(self) -> bool:
        return any(s.up for s in self.servers)

    async def warm(self, model: str | None = None) -> None:
        for server in [s for s in self.servers if s.up]:
            await warm_at(server.url, self.model(model))

    # -- the models ---------------------------------------------------------------------

    async def models(self) -> list[ModelInfo]:
        for server in [s for s in self.servers if s.up]:
            names = await _model_names(server.url)
            if names is not None:
                return [ModelInfo(n, prompt_style(n, overrides=self.settings.prompt_styles)) for n in names]
        raise EngineError(f"no LLM server in the pool lists its models: {self.url}")

    async def prompt_style(self, side: str, model: str) -> PromptStyle:
        names = [m.name for m in await self.models()]
        if model not in names:
            raise ModelChoiceError(side, f"no model '{model}' on the LLM servers; they serve {', '.join(names)}")
        return prompt_style(model, overrides=self.settings.prompt_styles)

    # -- seats --------------------------------------------------------------------------

    async def capacity(self) -> int:
        return sum(s.slots for s in self.servers if s.up)

    async def seat(self, duel_id: str, seconds: float, prefer: str | None = None) -> str | None:
        """The server this duel will talk to: `prefer` (the seat its ticket held) if it is
        live and has room, else the one with the most free seats; None if every live
        server is full."""
        async with self._seating:  # starts at once on this replica must see each other's seats
            live = [s for s in self.servers if s.up]
            taken = [await self._shared.booked(s.seats) for s in live]
            ranked = sorted(zip(taken, live), key=lambda pair: (pair[1].url != prefer, pair[0] - pair[1].slots))
            for _, server in ranked:
                if await self._shared.book(server.seats, duel_id, time.time() + seconds, server.slots):
                    return server.url
            return None

    async def renew(self, url: str, duel_id: str, seconds: float) -> None:
        await self._shared.renew(_seats(url), duel_id, time.time() + seconds)

    async def leave(self, url: str, duel_id: str) -> None:
        await self._shared.unbook(_seats(url), duel_id)


async def _slots(root: str) -> int | None:
    """How many slots a llama-server has (`GET /slots`); None for a server without it."""
    slots = await _json(f"{root}/slots")
    return len(slots) if slots is not None else None


async def _model_names(url: str) -> list[str] | None:
    """The OpenAI-compatible `GET /models`: what both llama-server and Ollama list."""
    try:
        return [m["id"] for m in (await _json(f"{url}/models"))["data"]]
    except (KeyError, TypeError):  # no listing, or not in that shape
        return None


async def _json(url: str):
    """What a GET of `url` answers with, or None if it doesn't answer 200 with JSON."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
            async with client.get(url) as response:
                return await response.json() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
