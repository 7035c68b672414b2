"""The real server over a real WebSocket: a Python client on Pipecat's own protobuf
serializer (the page's wire format) hears whole duels, and bad input is refused."""

import asyncio

import aiohttp
import pytest
import websockets

from helpers import ROOT, serving
from local_duel.bench.listener import listen

TWO_PHASES = """\
initial_node: hello
nodes:
  hello:
    role_message: "{{ first.name }} ({{ first.persona }}) meets {{ second.name }} ({{ second.persona }}). They talk about {{ topic }}."
    task_messages: [{role: developer, content: "{{ first.name }} and {{ second.name }} say hello."}]
    post_actions: [{type: function, handler: take_turn, turns: 2, next: tease}]
  tease:
    task_messages: [{role: developer, content: "They tease each other."}]
    post_actions: [{type: function, handler: take_turn, turns: 2}]
"""

CAST = {
    "first": {"name": "Max", "persona": "a smug engineer", "voice": "en_US-joe-medium"},
    "second": {"name": "Ava", "persona": "a sharp comedian", "voice": "en_US-joe-medium@1.35"},
}


async def post(base: str, path: str, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}{path}", **kwargs) as response:
            return response.status, await response.json()


async def upload(base: str, name: str, text: str, headers: dict | None = None) -> tuple[int, dict]:
    """Upload as the page does: with its `X-Local-Duel` header, unless `headers` says otherwise."""
    form = aiohttp.FormData()
    form.add_field("file", text, filename=name, content_type="application/yaml")
    return await post(base, "/api/flows", data=form, headers={"X-Local-Duel": "1"} if headers is None else headers)


@pytest.fixture(scope="module")
def duel(server):
    """An uploaded two-phase flow, then a whole duel of it heard over the WebSocket."""
    assert asyncio.run(upload(server, "two_phases.yaml", TWO_PHASES))[0] == 201
    return asyncio.run(listen(server, {"flow": "two_phases", "cast": CAST, "topic": "board games"}))


async def test_event_sequence_is_well_formed(duel):
    names = [data["event"] for _, data in duel.events]
    assert names[0] == "duel-state" and duel.named("duel-state")[0]["host"] is True  # every socket learns who it is
    story = [name for name in names[1:] if name != "audience"]  # the viewer count comes and goes
    assert story[0] == "duel-started" and story[-1] == "duel-ended"
    line = ["line-started", "line-text", "line-ended"]
    assert story[1:-1] == line * 2 + ["phase-changed"] + line * 2
    started, texts = duel.named("line-started"), duel.named("line-text")
    assert [(e["speaker"], e["side"], e["phase"], e["turn"]) for e in started] == [
        ("Max", "first", "hello", 1), ("Ava", "second", "hello", 2), ("Max", "first", "tease", 3), ("Ava", "second", "tease", 4),
    ]
    assert [(t["speaker"], t["turn"]) for t in texts] == [(s["speaker"], s["turn"]) for s in started]
    assert all(len(t["text"].split()) >= 2 for t in texts)
    assert duel.named("phase-changed") == [{"event": "phase-changed", "phase": "tease", "previous": "hello", "turn": 3}]
    assert duel.named("duel-ended") == [
        {"event": "duel-ended", "lines": 4, "votes": {"first": 0, "second": 0}, "winner": None, "winner_name": None}
    ]


async def test_audio_arrives_for_every_line(duel):
    spans = duel.line_spans()
    assert len(spans) == 4
    assert all(end - start > 0.5 for start, end in spans)
    assert {round(1 / (c.seconds or 1)) for c in duel.audio} and duel.audio[0].seconds < 0.1


async def test_standard_rtvi_events_keep_working(duel):
    types = [message.get("type") for _, message in duel.rtvi]
    assert "bot-ready" in types
    assert types.count("bot-started-speaking") >= 4 and "bot-stopped-speaking" in types
    spoken = " ".join(m["data"]["text"] for _, m in duel.rtvi if m.get("type") in ("bot-output", "bot-tts-text"))
    for line in duel.named("line-text"):
        assert line["text"] in spoken


async def closing_reason(url: str) -> tuple[int, str]:
    """The close code and reason of a socket the server closes at once."""
    async with websockets.connect(url) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_bad_token_is_refused_saying_why(server):
    code, reason = await closing_reason(server.replace("http", "ws") + "/ws?token=forged")
    assert code == 1008 and reason == "invalid or expired token; POST /api/start for a new one"


async def test_a_token_works_once(server):
    status, ticket = await post(server, "/api/start", json={"cast": CAST, "topic": "tea", "turns": 1})
    assert status == 200
    async with websockets.connect(ticket["wsUrl"]) as first:
        assert (await closing_reason(ticket["wsUrl"]))[1].startswith("invalid or expired token")
        await first.close()


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"cast": CAST, "topic": ""}, ["body", "topic"], "at least 1 character"),
        ({"cast": {**CAST, "second": {**CAST["second"], "voice": "klingon"}}, "topic": "x"}, ["body", "cast", "second", "voice"], "unknown voice 'klingon'"),
        ({"cast": CAST, "topic": "x", "flow": "nope"}, ["body", "flow"], "no flow named 'nope'"),
        ({"cast": CAST, "topic": "x", "turns": 0}, ["body", "turns"], "greater than or equal to 1"),
        ({"cast": CAST, "topic": "x", "rating": "spicy"}, ["body", "rating"], "'family' or 'adult'"),
        ({"cast": {"first": CAST["first"], "second": CAST["first"]}, "topic": "x"}, ["body", "cast"], "both agents are called 'Max'"),
        ({"cast": {**CAST, "first": {**CAST["first"], "model": "llama3.2"}}, "topic": "x"}, ["body", "cast", "first", "model"], "there is no llama3.2.gguf"),
    ],
)
async def test_bad_start_body_gets_422_naming_the_field(server, body, field, words):
    status, answer = await post(server, "/api/start", json=body)
    assert status == 422
    problem = next(p for p in answer["detail"] if p["loc"] == field)
    assert words in problem["msg"]


BROKEN_UPLOADS = {
    "bad.yaml": ("nodes: [unclosed", 422, "not valid YAML"),
    "include.yaml": ("initial_node: a\nnodes: !include /etc/passwd\n", 422, "include"),
    "next.yaml": (TWO_PHASES.replace("next: tease", "next: brawl"), 422, "`next: brawl` names no node"),
    "noturns.yaml": (TWO_PHASES.replace("turns: 2}]\n", "}]\n"), 422, "`turns` must be a whole number"),
    "big.yaml": ("# " + "x" * 70000 + "\n" + TWO_PHASES, 413, "larger than 65536 bytes (LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES)"),
    "flow.txt": (TWO_PHASES, 415, "upload a .yaml, .yml or .json"),
    "flirt_roast.yaml": (TWO_PHASES, 422, "bundled flow"),
}


@pytest.mark.parametrize("name", BROKEN_UPLOADS)
async def test_broken_upload_is_rejected_with_its_reason(server, name):
    text, status, reason = BROKEN_UPLOADS[name]
    got, answer = await upload(server, name, text)
    assert got == status and reason in answer["detail"]


async def test_models_voices_and_defaults_for_the_settings_form(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/api/models") as response:
            # The bundled model with our adapter, untaught beside it, and a real instruct model
            assert await response.json() == [{"name": "local-duel", "prompt_style": "screenplay", "size_mb": 253.1},
                                              {"name": "local-duel-base", "prompt_style": "screenplay", "size_mb": 253.1},
                                              {"name": "smollm2-135m-instruct", "prompt_style": "chat", "size_mb": 98.4}]
        async with http.get(f"{server}/api/voices") as response:
            assert await response.json() == ["en_US-joe-medium", "en_US-joe-medium@1.35"]
        async with http.get(f"{server}/api/defaults") as response:
            defaults = await response.json()
        async with http.get(f"{server}/openapi.json") as response:
            assert "/api/start" in (await response.json())["paths"]
    assert defaults["flow"] == "flirt_roast" and defaults["cast"]["second"]["voice"] == "en_US-joe-medium@1.35"


async def test_uploaded_flow_is_listed_with_its_diagram(server, duel):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/api/flows") as response:
            flows = {f["name"]: f for f in await response.json()}
        async with http.get(f"{server}/api/flows/two_phases") as response:
            detail = await response.json()
    assert flows["two_phases"]["uploaded"] and not flows["flirt_roast"]["uploaded"]
    assert "p_hello --> p_tease" in detail["mermaid"] and "p_tease --> finish((end))" in detail["mermaid"]


async def health(base: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/health") as response:
            return await response.json()


async def test_health_says_ready_in_a_word_and_a_sentence(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/api/health") as response:
            assert response.status == 200
            report = await response.json()
    assert report["state"] == "ready" and report["models_loaded"]
    assert report["message"].startswith("ready: the embedded engine answers")


async def test_hanging_up_mid_line_ends_the_duel_and_leaves_no_task(server):
    before = (await health(server))["tasks"]
    heard = await listen(server, {"cast": CAST, "topic": "socks"}, hang_up_after_audio=0.5)
    assert heard.first_audio is not None and len(heard.named("line-ended")) == 0  # mid-line
    for _ in range(100):  # the audience's grace (5 s) and the duel's cancelling
        now = await health(server)
        if now["duels_running"] == 0 and now["tasks"] <= before:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the abandoned duel left work behind: {now}, {before} tasks before")


HEARD_CLOCK_SLACK = 0.25  # well under a line's length, so one line ahead still shows


def prepared_while_the_line_before_played(heard) -> list[bool]:
    """For each line after the first: did the LLM start on it before the line before
    it had finished playing?"""
    spans, marks = heard.line_spans(), heard.marks()
    return [marks[k]["llm_start"] < spans[k - 1][1] for k in range(1, len(marks))]


async def test_lookahead_prepares_the_next_line_during_the_current_one_but_no_further(duel):
    spans, marks = duel.line_spans(), duel.marks()
    assert all(prepared_while_the_line_before_played(duel))
    # at most one line ahead: line k starts only after line k-2 has been heard (the
    # server's clock of what was heard runs a few tens of ms ahead of the listener's)
    assert all(marks[k]["llm_start"] >= spans[k - 2][1] - HEARD_CLOCK_SLACK for k in range(2, len(marks)))


async def test_two_duels_run_at_once(server):
    duel = {"cast": CAST, "topic": "weather", "turns": 1}
    both = await asyncio.gather(listen(server, duel), listen(server, duel))
    for heard in both:
        assert [d["event"] for _, d in heard.events][-1] == "duel-ended"
        assert len(heard.line_spans()) == 3


def test_the_sequential_setting_is_really_sequential(offline, tmp_path):
    """A second server with LOCAL_DUEL_LOOKAHEAD=false: every line is started only once
    the line before it has been heard, and that costs dead air at every change."""
    with (tmp_path / "server.log").open("w") as log, serving(ROOT / "flows", log, {"LOCAL_DUEL_LOOKAHEAD": "false"}) as base:
        heard = asyncio.run(listen(base, {"cast": CAST, "topic": "tea", "turns": 1}))
    spans, marks = heard.line_spans(), heard.marks()
    assert len(marks) == 3
    assert all(marks[k]["llm_start"] >= spans[k - 1][1] - HEARD_CLOCK_SLACK for k in range(1, 3))
    assert all(silence > 0 for silence in heard.dead_air())  # the price of waiting


def test_serve_without_the_weights_names_the_fetch_command(tmp_path):
    from helpers import local_duel

    result = local_duel("serve", env={"LOCAL_DUEL_MODELS_DIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 1 and "run `local-duel models fetch`" in result.stderr


def test_an_llm_that_never_answers_is_reported_and_the_server_stays_up(tmp_path):
    """Pointed at a port where nothing listens, the server still serves the page and the
    API, and /api/health says it is warming up, then that it failed and why."""
    import json
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from local_duel.core.child import free_port

    port, dead = free_port(), free_port()
    env = {**os.environ, "LOCAL_DUEL_LLM_URL": f"http://127.0.0.1:{dead}/v1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("local-duel")), "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        said = []  # (status, state) as they changed
        for _ in range(150):
            time.sleep(0.2)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            except urllib.error.HTTPError as e:
                report = json.loads(e.read())
                if not said or said[-1] != (e.code, report["state"]):
                    said.append((e.code, report["state"]))
                if report["state"] == "failed":
                    break
            except OSError:
                continue
        assert said == [(503, "warming"), (503, "failed")]
        assert report["message"].startswith(f"the engine could not start: the LLM server at http://127.0.0.1:{dead}/v1 did not answer")
        assert not report["models_loaded"] and report["engine"] == "external"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/flows", timeout=2) as response:
            assert response.status == 200
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_malformed_messages_are_named_and_the_duel_goes_on(server):
    from pipecat.frames.frames import InputTransportMessageFrame, OutputTransportMessageFrame
    from pipecat.serializers.protobuf import ProtobufFrameSerializer

    from local_duel.bench.listener import CLIENT_READY

    serializer = ProtobufFrameSerializer()
    status, ticket = await post(server, "/api/start", json={"cast": CAST, "topic": "kites", "turns": 1})
    assert status == 200
    events, rtvi = [], []
    async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
        await socket.send(b"\x00\xff not protobuf")
        await socket.send("not even bytes")
        await socket.send(await serializer.serialize(OutputTransportMessageFrame(message={"label": "rtvi-ai", "type": "no-such-type", "id": "7"})))
        await socket.send(await serializer.serialize(OutputTransportMessageFrame(message=CLIENT_READY)))
        async for raw in socket:
            frame = await serializer.deserialize(raw)
            if isinstance(frame, InputTransportMessageFrame):
                message = frame.message
                if message.get("type") == "server-message":
                    events.append(message["data"])
                    if message["data"]["event"] == "duel-ended":
                        break
                else:
                    rtvi.append(message)
    errors = [e for e in events if e["event"] == "error"]
    assert [e["fatal"] for e in errors] == [False, False]
    assert "Ignored a malformed message (15 bytes)" in errors[0]["message"]
    assert "Ignored a malformed message (text)" in errors[1]["message"]
    assert any(m.get("type") == "error-response" and "no-such-type" in m["data"]["error"] for m in rtvi)
    assert [e["event"] for e in events].count("line-text") == 3  # the duel went on


def test_an_engine_killed_mid_duel_ends_that_duel_in_words_and_the_next_duel_gets_a_new_one(tmp_path):
    import time

    import psutil

    with (tmp_path / "server.log").open("w") as log, serving(ROOT / "flows", log) as base:
        async def duel_with_a_dying_engine():
            listening = asyncio.create_task(listen(base, {"cast": CAST, "topic": "fire", "turns": 3}))
            while True:  # wait until the duel is under way, then kill its engine
                await asyncio.sleep(0.2)
                server = next(p for p in psutil.process_iter(["cmdline"]) if base.rsplit(":", 1)[1] in " ".join(p.info["cmdline"] or []))
                if (await health(base))["duels_running"]:
                    await asyncio.sleep(1.0)
                    for engine in server.children():
                        engine.kill()
                    return await listening

        broken = asyncio.run(duel_with_a_dying_engine())
        error = broken.named("error")
        assert error and error[0]["fatal"] and "the LLM at http://127.0.0.1:" in error[0]["message"]
        assert not broken.named("duel-ended")

        for _ in range(150):  # the engine's supervisor brings it back by itself
            time.sleep(0.2)
            if asyncio.run(health(base)).get("models_loaded"):
                break
        else:
            raise AssertionError("the engine did not come back")
        again = asyncio.run(listen(base, {"cast": CAST, "topic": "water", "turns": 1}))
        assert [d["event"] for _, d in again.events][-1] == "duel-ended"
        assert len(again.named("line-text")) == 3
