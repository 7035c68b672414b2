"""The Writer on a server that writes one choice per request, as Ollama does.

Ollama can't run here, so a loopback stand-in for its OpenAI-compatible route answers
instead: it streams one choice per request whatever `n_cmpl` says, and names the seed it
was asked with (or, asked for a `"talk"` model, talks on and on). The real engine's many
choices per request are tested in tests/e2e/test_engine.py.
"""

import asyncio
import json

import pytest
from aiohttp import web
from pipecat.frames.frames import LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from local_duel.core.child import free_port
from local_duel.core.settings import Settings
from local_duel.pipeline.frames import CueFrame, DraftFrame
from local_duel.pipeline.line import Line
from local_duel.pipeline.writer import Writer, sampling


@pytest.fixture
async def one_choice_server():
    """The stand-in: its URL, and the bodies it was asked with."""
    asked: list[dict] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        asked.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        talk = [word for k in range(1, 101) for word in (" Sentence", f" {k}.")] if body["model"] == "talk" else []
        try:
            for n, text in enumerate(talk or [" Seed", f" {body['seed']}."]):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                body["streamed"] = n + 1
                await asyncio.sleep(0.005)
            await response.write(b"data: [DONE]\n\n")
        except ConnectionResetError:  # the writer had all it wanted and hung up
            body["hung_up"] = True
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/v1", asked
    await runner.cleanup()


async def _drafts(url: str, contexts: int, model: str = "local-duel", **writer) -> list[list[str]]:
    """The drafts written for each of `contexts` cues, in turn."""
    settings = sampling(Settings(seed=40, llm_model=model))
    settings.system_instruction = "A roast battle."
    frames = [LLMContextFrame(LLMContext(messages=[{"role": "user", "content": "Max: Hi.\nAva:"}])) for _ in range(contexts)]
    down, _ = await run_test(Writer(base_url=url, settings=settings, at_once=2, steer={}, **writer), frames_to_send=frames)
    written = [f.text for f in down if isinstance(f, DraftFrame)]
    first = writer.get("first") or writer["drafts"]()
    return [written[:first], written[first:]] if contexts == 2 else [written]


async def test_a_server_that_ignores_n_cmpl_is_asked_once_per_candidate(one_choice_server):
    url, asked = one_choice_server
    assert await _drafts(url, 1, drafts=lambda: 3) == [[" Seed 40.", " Seed 41.", " Seed 42."]]
    assert sorted((body["seed"], body.get("n_cmpl")) for body in asked) == [(40, 3), (41, None), (42, None)]


async def test_the_opening_cue_gets_first_candidates_and_the_rest_all(one_choice_server):
    url, asked = one_choice_server
    opening, next_line = await _drafts(url, 2, drafts=lambda: 3, first=1)
    assert opening == [" Seed 40."] and next_line == [" Seed 40.", " Seed 41.", " Seed 42."]
    assert "n_cmpl" not in asked[0] and asked[1]["n_cmpl"] == 3


async def test_a_request_ends_once_each_choice_holds_all_the_editor_can_keep(one_choice_server):
    url, asked = one_choice_server
    opening, next_line = await _drafts(url, 2, model="talk", drafts=lambda: 1, first=1)
    assert opening == [" Sentence 1. Sentence"]  # its first sentence, settled by the next word
    assert next_line == [" Sentence 1. Sentence 2. Sentence"]  # two for any other line
    await asyncio.sleep(0.1)
    assert [body.get("hung_up") for body in asked] == [True, True]
    assert all(body["streamed"] < 10 for body in asked)  # not the 200 it would have written


async def test_the_request_nudges_toward_the_cues_words_under_the_ratings_steering(one_choice_server):
    """The cue's words raise their tokens; a token the rating steers away keeps its steer."""
    url, asked = one_choice_server
    settings = sampling(Settings(seed=40))
    settings.system_instruction = "A roast battle."
    writer = Writer(
        base_url=url, settings=settings, drafts=lambda: 1, at_once=1,
        steer={"local-duel": {"7": -100.0}}, lexicons={"local-duel": {"pizza": (5, 6), "darn": (7,), "chef": (8,)}},
    )
    context = LLMContext(messages=[{"role": "user", "content": "Max: Hi.\nAva:"}])
    cue = CueFrame(Line("Ava", "roast", 2, ""), words={"pizza": 3.0, "darn": 3.0, "chef": 5.0})
    await run_test(writer, frames_to_send=[cue, LLMContextFrame(context)])
    assert asked[0]["logit_bias"] == {"5": 3.0, "6": 3.0, "7": -100.0, "8": 5.0}
