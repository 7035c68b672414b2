"""An external Ollama-compatible server at `LOCAL_DUEL_LLM_URL`: not ours to start or
restart, so this engine only checks it, provisions the bundled model there, and asks
it which models exist and how each wants to be prompted."""

import asyncio
import time

from loguru import logger

from local_duel.core.settings import PromptStyle, Settings
from local_duel.engine import ollama
from local_duel.engine.base import Engine, EngineError, ModelChoiceError, ModelInfo, answers
from local_duel.engine.modelfile import ModelfileError

PATIENCE_SECONDS = 10


class ExternalEngine(Engine):
    kind = "external"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.url = (settings.llm_url or "").rstrip("/")

    async def start(self) -> None:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not await self.healthy():
            if time.monotonic() > deadline:
                raise EngineError(f"the LLM server at {self.url} did not answer within {PATIENCE_SECONDS} s")
            await asyncio.sleep(0.2)
        try:  # create the bundled model there if it is missing
            await ollama.prepare(self.url, [self.settings.llm_model], self.settings.models_dir, say=logger.info)
        except (ollama.OllamaError, ModelfileError) as e:
            raise EngineError(str(e)) from None

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""

    async def healthy(self) -> bool:
        return await answers(f"{self.url}/models")

    async def models(self) -> list[ModelInfo]:
        try:
            listed = await ollama.list_models(self.url, self.settings.prompt_styles)
        except ollama.OllamaError as e:
            raise EngineError(str(e)) from None
        return [ModelInfo(m.name, m.prompt_style) for m in listed]

    async def prompt_style(self, side: str, model: str) -> PromptStyle:
        try:
            return await ollama.model_prompt_style(self.url, model, self.settings.prompt_styles)
        except ollama.ModelNotFoundError as e:
            raise ModelChoiceError(side, str(e)) from None
        except ollama.OllamaError as e:
            raise EngineError(str(e)) from None
