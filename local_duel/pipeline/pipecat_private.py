"""The one place this code leans on Pipecat's private API (pipecat-ai is pinned in
pyproject.toml): an upgrade has one module to check, and
tests/unit/test_pipecat_private.py fails if the pinned version changes what it relies on.

Pipecat's OpenAI-compatible LLM service streams one completion per context; a duel's
`Writer` asks for several drafts of a line in one request instead, so it takes over the
service's private step from context to completion, and uses the service's own client.
"""

from typing import TYPE_CHECKING

from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.ollama.llm import OLLamaLLMService

if TYPE_CHECKING:
    from openai import AsyncOpenAI  # what pipecat-ai's OpenAI services are built on


class ContextWriter(OLLamaLLMService):
    """Pipecat's OpenAI-compatible service, with each context handed to `write`."""

    async def _process_context(self, context: LLMContext):
        # Pipecat's `process_frame` calls this for each LLMContextFrame, between its
        # LLMFullResponseStart/EndFrames and with its error handling around it.
        await self.write(context)

    async def write(self, context: LLMContext) -> None:
        raise NotImplementedError

    @property
    def client(self) -> "AsyncOpenAI":
        """The service's HTTP client to the engine, with its connection pool."""
        return self._client

    @property
    def system_instruction(self) -> str | None:
        return self._settings.system_instruction

    async def close(self) -> None:
        """Close the client's pooled connections, which Pipecat keeps alive forever."""
        await self._client.close()
