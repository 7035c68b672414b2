"""The LLM step of a duel: several draft lines for one cue.

`Writer` is Pipecat's `OLLamaLLMService` (any OpenAI-compatible server: Ollama, or the
embedded llama.cpp engine) with one change: for each context it writes `drafts`
completions of the same prompt and hands them on as `DraftFrame`s, in choice order,
for the `LineEditor` to rank. It asks for all of them in one request (llama-server's
`n_cmpl`): the engine evaluates the prompt once and copies it to the slots that write
the other drafts, where separate requests evaluated it once per slot, three times
slower on a new prompt. A server that writes one draft per request (Ollama) gets the
rest asked for one by one, seeds `seed + 1`, `seed + 2`, …, `at_once` at a time.

A request ends as soon as each draft holds all the line editor can keep of it (two
whole sentences; one for the opening line, which nothing playing can hide), not at
`max_tokens`: the listener waits less for the first line, and the slots are sooner free
for the other duels.
"""

import asyncio
from collections.abc import Callable

from pipecat.frames.frames import Frame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ollama.llm import OLLamaLLMService
from pipecat.utils.types import assert_given

from local_duel.core.settings import Settings
from local_duel.pipeline.frames import CueFrame, DraftFrame
from local_duel.pipeline.generation import engine_options, penalties
from local_duel.pipeline.line import MAX_SENTENCES, settled_sentences
from local_duel.pipeline.nudge import Lexicon, nudge
from local_duel.pipeline.pipecat_private import ContextWriter


def sampling(settings: Settings) -> OLLamaLLMService.Settings:
    """How every line is sampled; the Prompter varies seed, model and temperature per turn."""
    return OLLamaLLMService.Settings(
        model=settings.llm_model,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        **penalties(settings),
        extra={"extra_body": engine_options(settings)},
    )


class Writer(ContextWriter):
    """Writes `drafts()` completions per context (asked anew each turn: the server
    shares the engine's slots among the duels running), `first` at most for the opening
    one, each with a `logit_bias`: the nudge toward the words of the last cue that came
    by (if `lexicons` knows the model asked), under what `steer` holds for that model."""

    def __init__(
        self,
        *,
        drafts: Callable[[], int],
        first: int | None = None,
        at_once: int,
        steer: dict[str, dict[str, float]],
        lexicons: dict[str, Lexicon] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._drafts = drafts
        self._first = first  # for the duel's opening cue, if not `drafts()`
        self._slots = asyncio.Semaphore(at_once)
        self._steer = steer
        self._lexicons = lexicons or {}
        self._cue_words: dict[str, float] = {}

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, CueFrame):
            self._cue_words = frame.words
        await super().process_frame(frame, direction)

    def _bias(self, model: str) -> dict[str, float]:
        """The nudge toward the cue's words, under the rating's steering (which wins)."""
        known = self._lexicons.get(model)
        toward = nudge(self._cue_words, known) if known else {}
        return {**toward, **self._steer.get(model, {})}

    async def write(self, context: LLMContext) -> None:
        invocation = await self.get_llm_adapter().get_llm_invocation_params(
            context,
            system_instruction=assert_given(self.system_instruction),
            convert_developer_to_user=not self.supports_developer_role,
        )
        params = self.build_chat_completion_params(invocation)
        params.pop("stream_options", None)
        if bias := self._bias(params["model"]):
            params["logit_bias"] = bias
        opening = self._first is not None
        wanted = min(self._first, self._drafts()) if opening else self._drafts()
        sentences = 1 if opening else MAX_SENTENCES
        self._first = None
        written = await self._write(params, wanted, sentences)
        if len(written) < wanted:  # the server ignored n_cmpl
            rest = await asyncio.gather(*(
                self._write({**params, "seed": params["seed"] + k}, 1, sentences) for k in range(len(written), wanted)
            ))
            written += [draft for more in rest for draft in more]
        for draft in written:  # in choice order, whichever finished first: ties rank the same every run
            await self.push_frame(draft)

    async def _write(self, params: dict, drafts: int, sentences: int) -> list[DraftFrame]:
        """`drafts` completions (the API's choices) of one request, streamed side by side, until each has
        ended or holds `sentences` whole sentences."""
        if drafts > 1:
            params = {**params, "extra_body": {**params.get("extra_body", {}), "n_cmpl": drafts}}
        texts: dict[int, list[str]] = {}  # choice index → its streamed tokens
        first_token_at: dict[int, float] = {}
        done: set[int] = set()
        async with self._slots:
            stream = await self.client.chat.completions.create(**params)
            try:
                async for chunk in stream:
                    for choice in chunk.choices or []:
                        tokens = texts.setdefault(choice.index, [])
                        if choice.index in done:  # it holds all it may; the others are still writing
                            continue
                        if choice.delta and choice.delta.content:
                            first_token_at.setdefault(choice.index, asyncio.get_running_loop().time())
                            tokens.append(choice.delta.content)
                        if choice.finish_reason or settled_sentences("".join(tokens)) >= sentences:
                            done.add(choice.index)
                    if len(done) >= drafts:
                        break  # closing the stream ends the request on the server
            finally:
                await stream.close()
        written = [DraftFrame("".join(t), len(t), first_token_at.get(i), sentences) for i, t in sorted(texts.items())]
        return written or [DraftFrame("", 0, None, sentences)]
