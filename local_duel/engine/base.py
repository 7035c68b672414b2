"""What every engine offers: a base URL, a lifecycle, and the models agents may use."""

import abc
from dataclasses import dataclass

import aiohttp

from local_duel.core.errors import LocalDuelError
from local_duel.core.settings import PromptStyle, Settings
from local_duel.show.cast import Cast


async def answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 within 2 s."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
            async with client.get(url) as response:
                return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


class EngineError(LocalDuelError, RuntimeError):
    """The LLM server could not be started or reached."""


class ModelChoiceError(LocalDuelError, ValueError):
    """An agent names a model the LLM server doesn't have; `side` is first or second."""

    def __init__(self, side: str, message: str):
        super().__init__(message)
        self.side = side


@dataclass(frozen=True)
class ModelInfo:
    """A model an agent can pick, and how it is prompted."""

    name: str
    prompt_style: PromptStyle
    size_mb: float | None = None


class Engine(abc.ABC):
    """An OpenAI-compatible LLM server at `url` (`…/v1`), as an async context manager."""

    kind: str  # "embedded" or "external", for /api/health

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = ""

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop()

    @abc.abstractmethod
    async def start(self) -> None:
        """Be ready to serve, or raise EngineError saying why not."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Let go of the server (and stop it, if it is ours)."""

    @abc.abstractmethod
    async def healthy(self) -> bool:
        """Whether the server answers right now; never waits behind generation."""

    @abc.abstractmethod
    async def models(self) -> list[ModelInfo]:
        """The models an agent can use here."""

    @abc.abstractmethod
    async def prompt_style(self, side: str, model: str) -> PromptStyle:
        """How `model` is prompted; ModelChoiceError naming `side` if there is no such model."""

    def model(self, name: str | None) -> str:
        return name or self.settings.llm_model

    async def views(self, cast: Cast) -> dict[str, PromptStyle]:
        """How each agent is prompted: a screenplay for base models, a chat for the rest."""
        return {
            agent.name: await self.prompt_style(side, self.model(agent.model))
            for side, agent in (("first", cast.first), ("second", cast.second))
        }

    async def warm(self, model: str | None = None) -> None:
        """One token through the chat endpoint: loads `model` and pays for its first eval
        before a duel needs it."""
        await warm_at(self.url, self.model(model))

    # A duel's seat: which server it talks to, and how many duels the stage takes. One
    # server: every duel talks to it, and `max_duels` is the stage (engine/pool.py seats
    # duels at several).

    async def capacity(self) -> int:
        return self.settings.max_duels

    async def seat(self, duel_id: str, seconds: float, prefer: str | None = None) -> str | None:
        return self.url

    async def renew(self, url: str, duel_id: str, seconds: float) -> None:
        """Keep a duel's seat for `seconds` more."""

    async def leave(self, url: str, duel_id: str) -> None:
        """Give a duel's seat back."""


async def warm_at(url: str, model: str) -> None:
    """One token of `model` through the chat endpoint at `url`."""
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi:"}]}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client:
            async with client.post(f"{url}/chat/completions", json=body) as response:
                if response.status != 200:
                    raise EngineError(f"the LLM at {url} answered {response.status}: {(await response.text())[:300]}")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise EngineError(f"the LLM at {url} did not answer: {e or type(e).__name__}") from None
