"""The Writer on a server that writes one choice per request, as Ollama does.

Ollama can't run here, so a loopback stand-in for its OpenAI-compatible route answers
instead: it streams one choice per request whatever `n_cmpl` says, and names the seed it
was asked with. The real engine's many choices per request are tested in test_engine.
"""

import json

from aiohttp import web
from pipecat.frames.frames import LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from local_duel.child import free_port
from local_duel.settings import Settings
from local_duel.writer import CandidateFrame, Writer, sampling


async def test_a_server_that_ignores_n_cmpl_is_asked_once_per_candidate():
    asked: list[dict] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        asked.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for text in [" Seed", f" {body['seed']}."]:
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        settings = sampling(Settings(seed=40))
        settings.system_instruction = "A roast battle."
        writer = Writer(base_url=f"http://127.0.0.1:{port}/v1", settings=settings, candidates=lambda: 3, at_once=2, steer={})
        context = LLMContext(messages=[{"role": "user", "content": "Max: Hi.\nAva:"}])
        down, _ = await run_test(writer, frames_to_send=[LLMContextFrame(context)])
    finally:
        await runner.cleanup()
    assert [f.text for f in down if isinstance(f, CandidateFrame)] == [" Seed 40.", " Seed 41.", " Seed 42."]
    assert sorted((body["seed"], body.get("n_cmpl")) for body in asked) == [(40, 3), (41, None), (42, None)]
