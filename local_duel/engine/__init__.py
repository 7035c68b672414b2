"""The LLM engine duels talk to: llama.cpp's own server embedded here, or an external
Ollama. Both serve the same OpenAI-compatible API at `Engine.url`, which is all a duel
ever sees; what differs (supervision, which models exist, how each is prompted) stays
behind the `Engine` interface."""

from collections.abc import Awaitable, Callable

from local_duel.core.settings import Settings
from local_duel.core.shared import InProcess, Shared
from local_duel.engine.base import Engine, EngineError, ModelChoiceError, ModelInfo
from local_duel.engine.embedded import EmbeddedEngine
from local_duel.engine.external import ExternalEngine
from local_duel.engine.pool import LlmPool

__all__ = ["EmbeddedEngine", "Engine", "EngineError", "ExternalEngine", "LlmPool", "ModelChoiceError", "ModelInfo", "engine_for"]


def engine_for(
    settings: Settings, shared: Shared | None = None, on_gone: Callable[[str], Awaitable[None]] | None = None
) -> Engine:
    """A pool of servers when `LOCAL_DUEL_LLM_URLS` is set (`on_gone` told of one that
    stops answering), an external Ollama when `LOCAL_DUEL_LLM_URL` is, else the embedded engine."""
    if settings.llm_urls:
        return LlmPool(settings, shared or InProcess(), on_gone)
    return ExternalEngine(settings) if settings.llm_url else EmbeddedEngine(settings)
