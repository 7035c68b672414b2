"""The embedded engine: llama.cpp's own `llama-server` on the bundled model, for real.

Parallel slots mean duels never cut each other's lines short; any GGUF dropped into
`models/llm/` is offered per agent and prompted by what it is; the server admits only as
many duels as it can play, and a hung engine ends its duel in words.
"""

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
import pytest_asyncio

from helpers import ROOT, serving
from local_duel.bench.listener import listen
from local_duel.core.settings import Settings
from local_duel.core.weights import INSTRUCT_FILE, LLM_FILE
from local_duel.engine import EmbeddedEngine, ModelChoiceError
from local_duel.show.cast import Agent, Cast

BUNDLED, INSTRUCT = ROOT / "models" / LLM_FILE, ROOT / "models" / INSTRUCT_FILE
pytestmark = pytest.mark.asyncio(loop_scope="module")  # one engine, kept up by its loop, for the module
CAST = {
    "first": {"name": "Max", "persona": "a smug engineer", "voice": "en_US-joe-medium"},
    "second": {"name": "Ava", "persona": "a sharp comedian", "voice": "en_US-joe-medium@1.35"},
}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """A models folder with the bundled GGUF (no adapter), the real instruction-tuned
    SmolLM2-135M-Instruct with its own chat template, and a broken file."""
    folder = tmp_path_factory.mktemp("models")
    llm = folder / "llm"
    llm.mkdir()
    for gguf in (BUNDLED, INSTRUCT):
        (llm / gguf.name).symlink_to(gguf)
    (llm / "broken.gguf").write_bytes(b"not a model at all")
    return folder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(models_dir):
    async with EmbeddedEngine(Settings(models_dir=models_dir, engine_slots=4)) as running:
        yield running


async def _complete(url: str, model: str, content: str, seed: int) -> tuple[dict, float, float]:
    body = {
        "model": model, "max_tokens": 48, "seed": seed, "temperature": 0.9, "stop": ["\n"],
        "messages": [{"role": "system", "content": "A roast battle."}, {"role": "user", "content": content}],
    }
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.post(f"{url}/chat/completions", json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        return answer, started, time.monotonic()


async def test_three_requests_at_once_run_side_by_side_and_each_ends_where_the_model_stopped(engine):
    cues = ["Max: Nice tie.\nAva:", "Ava: You again?\nMax:", "Bo: Tabs or spaces?\nCy:"]
    busy = asyncio.gather(*(_complete(engine.url, "local-duel", cue, seed) for seed, cue in enumerate(cues)))
    checks = []
    while not busy.done():  # the health check never waits behind generation
        began = time.monotonic()
        assert await engine.healthy()
        checks.append(time.monotonic() - began)
        await asyncio.sleep(0.05)
    answers = await busy
    assert checks and max(checks) < 1.0, checks
    for answer, _, _ in answers:
        choice, used = answer["choices"][0], answer["usage"]
        # the stop string or the token budget ended it: nothing else cut it short
        assert choice["finish_reason"] == "stop" or used["completion_tokens"] == 48, answer
        assert used["completion_tokens"] >= 1
    starts, ends = [a[1] for a in answers], [a[2] for a in answers]
    assert max(starts) < min(ends)  # all three were being written at the same time


async def test_every_gguf_in_the_folder_is_offered_with_its_size_and_prompt_style(engine):
    listed = {m.name: m for m in await engine.models()}
    assert set(listed) == {"local-duel", "smollm2-135m-instruct"}  # the broken file is left out
    assert listed["local-duel"].prompt_style == "screenplay" and listed["smollm2-135m-instruct"].prompt_style == "chat"
    assert listed["local-duel"].size_mb == pytest.approx(BUNDLED.stat().st_size / 1e6, abs=0.1)


async def test_an_agent_on_an_instruct_gguf_gets_the_chat_view_and_its_own_template(engine):
    cast = Cast(
        first=Agent(name="Max", persona="p", voice="v"),
        second=Agent(name="Ava", persona="p", voice="v", model="smollm2-135m-instruct"),
    )
    assert await engine.views(cast) == {"Max": "screenplay", "Ava": "chat"}
    root = engine.url.removesuffix("/v1")
    messages = [{"role": "user", "content": "Max: Hello."}]
    async with aiohttp.ClientSession() as http:
        for model, expected in (("smollm2-135m-instruct", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                                 "trained by Hugging Face<|im_end|>\n<|im_start|>user\nMax: Hello.<|im_end|>\n<|im_start|>assistant\n"),
                                ("local-duel", "Max: Hello.")):
            async with http.post(f"{root}/apply-template", json={"model": model, "messages": messages}) as response:
                assert (await response.json())["prompt"] == expected
    answer, _, _ = await _complete(engine.url, "smollm2-135m-instruct", "Max: Hello.", 1)
    assert answer["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("model, words", [
    ("broken", "is not a GGUF file"),
    ("nothing-here", "there is no nothing-here.gguf"),
])
async def test_a_broken_or_missing_gguf_is_refused_by_name(engine, model, words):
    cast = Cast(first=Agent(name="Max", persona="p", voice="v", model=model), second=Agent(name="Ava", persona="p", voice="v"))
    with pytest.raises(ModelChoiceError, match=words) as refused:
        await engine.views(cast)
    assert refused.value.side == "first" and "local-duel" in str(refused.value)


async def test_a_dead_engine_is_restarted_by_its_supervisor(engine):
    old_url = engine.url
    engine.process.kill()
    for _ in range(150):
        await asyncio.sleep(0.2)
        if engine.restarts == 1:  # counted once the new engine answers and is warm
            break
    else:
        raise AssertionError("the engine did not come back")
    assert engine.url != old_url and await engine.healthy()
    answer, _, _ = await _complete(engine.url, "local-duel", "Max: Hi.\nAva:", 3)
    assert answer["choices"][0]["message"]["content"]


# -- through the real server ---------------------------------------------------------------

@pytest.fixture(scope="module")
def small_stage(tmp_path_factory):
    """A server that admits two duels, fewer while its lines come late, writes two drafts
    a line (the pace's floor from the first line) and gives each line 10 s."""
    log = (tmp_path_factory.mktemp("small") / "server.log").open("w")
    env = {"LOCAL_DUEL_MAX_DUELS": "2", "LOCAL_DUEL_LEARN_STAGE": "true", "LOCAL_DUEL_DRAFTS": "2", "LOCAL_DUEL_LINE_TIMEOUT": "10"}
    with serving(ROOT / "flows", log, env) as base:
        yield base
    log.close()


async def _start(base: str) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/start", json={"cast": CAST, "topic": "chess", "turns": 1}) as response:
            return response.status, dict(response.headers), await response.json()


async def _health(base: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/health") as response:
            return await response.json()


async def _idle(base: str) -> None:
    """Until the duel before has wound down: its place is given back as it ends."""
    for _ in range(150):
        if not (await _health(base))["duels_running"]:
            return
        await asyncio.sleep(0.2)


def _model_processes(base: str) -> list[psutil.Process]:
    port = base.rsplit(":", 1)[1]
    server = next(p for p in psutil.process_iter(["cmdline"]) if f"--port {port}" in " ".join(p.info["cmdline"] or []))
    return [p for p in server.children(recursive=True) if "--model" in p.cmdline()]


async def test_a_line_come_late_shrinks_the_stage_and_the_next_duel_is_turned_away(small_stage):
    """The engine stops (SIGSTOP) as the first line starts to play: the next line can't
    be ready when it ends, at two drafts already, so the stage shrinks below the one
    duel running and a second duel gets 429 naming why, though LOCAL_DUEL_MAX_DUELS is 2."""
    assert (await _health(small_stage))["stage"] == 2  # nothing learned yet
    stopped: list[psutil.Process] = []

    def freeze_as_the_first_line_plays(heard) -> None:
        if not stopped and heard.named("line-started"):
            stopped.extend(_model_processes(small_stage))
            for process in stopped:
                process.send_signal(signal.SIGSTOP)

    duel = asyncio.ensure_future(listen(small_stage, {"cast": CAST, "topic": "ice", "turns": 2}, on_event=freeze_as_the_first_line_plays))
    try:
        deadline = time.monotonic() + 60
        while not stopped and not duel.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert stopped, "the first line never started playing"
        frozen = time.monotonic()
        while (health := await _health(small_stage))["stage"] == 2 and time.monotonic() < frozen + 9:  # within the line timeout
            await asyncio.sleep(0.05)
        assert health["stage"] == 1 and health["duels_running"] == 1, health
        status, headers, body = await _start(small_stage)
        assert status == 429 and int(headers["Retry-After"]) > 0
        assert "1 duels are running or about to start, as many as this machine has kept up with, of at most 2" in body["detail"]
    finally:
        for process in stopped:
            process.send_signal(signal.SIGCONT)
        await duel


async def test_a_hung_engine_ends_the_duel_in_words_within_the_line_timeout(small_stage):
    """SIGSTOP on the model process once the duel is under way: no answer ever comes, and
    the duel must end with an error naming the timeout rather than fall silent."""
    await _idle(small_stage)
    stopped: list[psutil.Process] = []

    async def freeze_once_under_way():
        while not (await _health(small_stage))["duels_running"]:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stopped.extend(_model_processes(small_stage))
        for process in stopped:
            process.send_signal(signal.SIGSTOP)
        return time.monotonic()

    try:
        heard, frozen_at = await asyncio.gather(
            listen(small_stage, {"cast": CAST, "topic": "ice", "turns": 3}), freeze_once_under_way()
        )
        ended_after = time.monotonic() - frozen_at
    finally:
        for process in stopped:
            process.send_signal(signal.SIGCONT)
    assert stopped
    error = heard.named("error")
    assert error and error[0]["fatal"] and "within 10 s" in error[0]["message"]
    assert "the LLM at http://127.0.0.1:" in error[0]["message"] and not heard.named("duel-ended")
    assert ended_after < 10 + 5  # the timeout, plus a line that may already have been playing


async def test_a_full_stage_answers_429_with_retry_after(small_stage):
    await _idle(small_stage)
    stage = (await _health(small_stage))["stage"]  # 2, or what the lines so far have shown
    for _ in range(stage):
        status, _, _ = await _start(small_stage)  # a ticket counts: that duel is about to start
        assert status == 200
    status, headers, body = await _start(small_stage)
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert f"the stage is full: {stage} duels are running or about to start" in body["detail"]


async def test_a_lines_candidates_are_the_choices_of_one_request(engine):
    """The Writer asks for all of a line's drafts at once (llama-server's n_cmpl) and
    gets as many different choices, each stopped at the end of its line."""
    from pipecat.frames.frames import LLMContextFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.tests.utils import run_test

    from local_duel.pipeline.frames import DraftFrame
    from local_duel.pipeline.writer import Writer, sampling

    settings = sampling(Settings())
    settings.system_instruction = "A roast battle."
    writer = Writer(base_url=engine.url, settings=settings, drafts=lambda: 4, at_once=1, steer={})
    context = LLMContext(messages=[{"role": "user", "content": "Max: Tabs are for cowards.\nAva:"}])
    down, _ = await run_test(writer, frames_to_send=[LLMContextFrame(context)], start_timeout=10)
    drafts = [frame for frame in down if isinstance(frame, DraftFrame)]
    assert len(drafts) == 4 and len({c.text for c in drafts}) >= 3, drafts
    assert all(c.tokens >= 1 and c.first_token_at and "\n" not in c.text for c in drafts), drafts


async def test_a_nudge_makes_the_real_model_name_the_cues_word(engine, models_dir):
    """The nudge's token ids, read from the bundled GGUF, are the ones the engine writes:
    the same request names a word only when nudged toward it. (A word the model finds
    unthinkable there, such as "banana", stays out even at 6: the engine's sampler cuts
    the unlikely tokens before it draws, so a nudge only favours words already in play.)"""
    from pipecat.frames.frames import LLMContextFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.tests.utils import run_test

    from local_duel.pipeline.frames import CueFrame, DraftFrame
    from local_duel.pipeline.line import Line
    from local_duel.pipeline.nudge import lexicons_for
    from local_duel.pipeline.writer import Writer, sampling

    async def drafts(nudge: float) -> list[str]:
        settings = Settings(models_dir=models_dir, nudge=nudge)
        writer = Writer(base_url=engine.url, settings=sampling(settings), drafts=lambda: 4, at_once=1, steer={},
                        lexicons=lexicons_for([settings.llm_model], settings))
        writer._settings.system_instruction = "A roast battle."
        context = LLMContext(messages=[{"role": "user", "content": "Max: Tabs are for cowards.\nAva:"}])
        cue = CueFrame(Line("Ava", "roast", 2, ""), words={"engineer": nudge})
        down, _ = await run_test(writer, frames_to_send=[cue, LLMContextFrame(context)], start_timeout=10)
        return [f.text for f in down if isinstance(f, DraftFrame)]

    plain, nudged = await drafts(0.0), await drafts(6.0)
    assert not any("engineer" in text.lower() for text in plain), plain
    assert any("engineer" in text.lower() for text in nudged), nudged
