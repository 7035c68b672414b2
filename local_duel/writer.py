"""The LLM step of a duel: several candidate lines for one cue, as separate requests.

`Writer` is Pipecat's `OLLamaLLMService` (any OpenAI-compatible server: Ollama, or the
embedded llama.cpp engine) with one change: for each context it writes `candidates`
completions of the same prompt, each with its own seed, and hands them on as
`CandidateFrame`s, in seed order, for the `LineEditor` to rank. They are separate
streaming requests (llama-server writes one choice per request), `at_once` at a time:
the embedded engine's parallel slots write them side by side.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pipecat.frames.frames import DataFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.ollama.llm import OLLamaLLMService
from pipecat.utils.types import assert_given

from local_duel.generation import ENGINE_OPTIONS, PENALTIES
from local_duel.settings import Settings


@dataclass
class CandidateFrame(DataFrame):
    """One candidate line as the model wrote it: its raw text, streamed tokens, and the
    event-loop time its first token came (None if it wrote nothing)."""

    text: str
    tokens: int
    first_token_at: float | None


def sampling(settings: Settings) -> OLLamaLLMService.Settings:
    """How every line is sampled; the Prompter varies seed, model and temperature per turn."""
    return OLLamaLLMService.Settings(
        model=settings.llm_model,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        **PENALTIES,
        extra={"extra_body": ENGINE_OPTIONS},
    )


class Writer(OLLamaLLMService):
    """Writes `candidates()` completions per context (asked anew each turn: the server
    shares the engine's slots among the duels running), seeds `seed`, `seed + 1`, …, each
    with the `logit_bias` that `steer` holds for the model asked (none if it holds none)."""

    def __init__(self, *, candidates: Callable[[], int], at_once: int, steer: dict[str, dict[str, float]], **kwargs):
        super().__init__(**kwargs)
        self._candidates = candidates
        self._slots = asyncio.Semaphore(at_once)
        self._steer = steer

    async def _process_context(self, context: LLMContext):
        invocation = await self.get_llm_adapter().get_llm_invocation_params(
            context,
            system_instruction=assert_given(self._settings.system_instruction),
            convert_developer_to_user=not self.supports_developer_role,
        )
        params = self.build_chat_completion_params(invocation)
        params.pop("stream_options", None)
        if bias := self._steer.get(params["model"]):
            params["logit_bias"] = bias
        seed = params["seed"]
        written = await asyncio.gather(*(self._write({**params, "seed": seed + k}) for k in range(self._candidates())))
        for candidate in written:  # in seed order, whichever finished first: ties rank the same every run
            await self.push_frame(candidate)

    async def _write(self, params: dict) -> CandidateFrame:
        async with self._slots:
            text, first_token_at = [], None
            stream = await self._client.chat.completions.create(**params)
            try:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        first_token_at = first_token_at or asyncio.get_running_loop().time()
                        text.append(chunk.choices[0].delta.content)
            finally:
                await stream.close()
        return CandidateFrame("".join(text), len(text), first_token_at)
