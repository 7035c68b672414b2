"""`local-duel bench`: duels through the real server and WebSocket, measured by a listener.

It runs the server twice, with lookahead and in sequential mode, and reports on the
listener's side: start to first audio (cold and warm), dead air (silence beyond the
configured pause), underruns inside lines, the LLM's tokens per second through the app
against the same prompts sent straight to the engine, Piper's real-time factor, peak
memory of server and engine, and how many duels run at once without an underrun. It
writes a JSON of the results and a PNG timeline of one duel, and prints a table.
"""

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import aiohttp
import psutil
from PIL import Image, ImageDraw

from local_duel.bench.listener import Heard, listen
from local_duel.bench.serve import ServerProcess
from local_duel.bench.stats import p95
from local_duel.core.settings import Settings
from local_duel.core.weights import voices_dir
from local_duel.pipeline import generation
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.events import DuelEvent
from local_duel.pipeline.line import Line
from local_duel.pipeline.script import Script
from local_duel.pipeline.stock import FALLBACK_LINES
from local_duel.pipeline.voice import Voices
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast
from local_duel.show.placeholders import fill

TARGETS = {
    "dead_air_median_s": "≤ 0.050",
    "dead_air_p95_s": "≤ 0.150",
    "dead_air_ratio_sequential_over_lookahead": "≥ 5",
    "underruns": "0",
    "warm_first_audio_s": "≤ 1.0",
    "cold_first_audio_s": "≤ 8",
    "tokens_per_s_app_over_direct": "≥ 0.90",
    "concurrent_duels_without_underrun": "6",
    "concurrent_duels_meeting_dead_air_target": "6 (no underrun, dead air p95 ≤ 0.3 s)",
    "words_per_line_at_6_over_1": "≥ 0.90",
    "memory_one_duel_mb": "≤ 700",
    "memory_per_extra_duel_mb": "≤ 60",
}
CONCURRENCY = [1, 2, 4, 6, 8]  # duels at once, each row through the same server


class Server:
    """`local-duel serve` in a child process, with its peak memory sampled."""

    def __init__(self, lookahead: bool, **env: str):
        self.child = ServerProcess({
            "LOCAL_DUEL_LOOKAHEAD": "true" if lookahead else "false",
            # admit every row, past the limit the server would set for itself
            "LOCAL_DUEL_MAX_DUELS": str(max(CONCURRENCY)),
            "LOCAL_DUEL_LEARN_STAGE": "false",
            **env,
        })
        self.url = self.child.url
        self.peak = {"server": 0.0, "engine": 0.0}
        self._sampler: asyncio.Task | None = None

    async def __aenter__(self) -> "Server":
        self.started = time.monotonic()
        self.child.start()
        self._sampler = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def wait_healthy(self) -> dict:
        return await asyncio.to_thread(self.child.wait_healthy)

    async def wait_idle(self, within: float = 120) -> None:
        """Until the duels heard so far have also kept their record and left the stage:
        the next measurement starts on an empty stage, not against its own admission."""
        deadline = time.monotonic() + within
        while (await self.wait_healthy())["duels_running"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"duels still running on the server {within:g} s after they were heard")
            await asyncio.sleep(0.2)

    def rss_mb(self) -> tuple[float, float]:
        server = psutil.Process(self.child.process.pid)
        engines = server.children(recursive=True)
        return server.memory_info().rss / 1e6, sum(p.memory_info().rss for p in engines) / 1e6

    async def _sample(self):
        while True:
            try:
                server, engine = self.rss_mb()
                self.peak = {"server": max(self.peak["server"], server), "engine": max(self.peak["engine"], engine)}
            except psutil.Error:
                pass
            await asyncio.sleep(0.2)

    def reset_peak(self):
        self.peak = {"server": 0.0, "engine": 0.0}

    async def __aexit__(self, *exc):
        self._sampler.cancel()
        await asyncio.to_thread(self.child.stop)


def _duel(turns: int, topic: str) -> dict:
    return {"cast": Cast.from_file(DEFAULT_CAST).model_dump(), "topic": topic, "turns": turns}


def _summary(heard: list[Heard]) -> dict:
    dead = [d for h in heard for d in h.dead_air()]
    gaps = [g for h in heard for g in h.gaps()]
    texts = [t["text"] for h in heard for t in h.named(DuelEvent.LINE_TEXT)]
    return {
        "lines": sum(len(h.line_spans()) for h in heard),
        "duels_ended": sum(bool(h.named(DuelEvent.DUEL_ENDED)) for h in heard),
        "words_per_line": round(statistics.mean(len(t.split()) for t in texts), 1) if texts else None,
        "stock_lines": sum(t in FALLBACK_LINES for t in texts),
        "drafts_per_line": round(statistics.mean(drafts), 2) if (drafts := [e["drafts"] for h in heard for e in h.named(DuelEvent.LINE_ENDED)]) else None,
        "dead_air_median_s": round(statistics.median(dead), 3) if dead else None,
        "dead_air_p95_s": round(p95(dead), 3) if dead else None,
        "dead_air_max_s": round(max(dead), 3) if dead else None,
        "gap_median_s": round(statistics.median(gaps), 3) if gaps else None,
        "gap_max_s": round(max(gaps), 3) if gaps else None,
        "underruns": sum(len(h.underruns()) for h in heard),
    }


async def _direct_rate(engine_url: str, flow: dict, heard: Heard, settings: Settings) -> tuple[float, float]:
    """Tokens per second through the app (from the server's marks) and for the same
    prompts sent straight to the engine, rebuilt from the heard screenplay."""
    started = heard.named(DuelEvent.DUEL_STARTED)[0]
    cast, topic = Cast.model_validate(started["cast"]), started["topic"]
    opening = DuelState.opening(cast, topic, started["phases"][0])
    nodes = flow["config"]["nodes"]
    scene = fill(nodes[flow["config"]["initial_node"]]["role_message"], opening.placeholders())
    script, app_tokens, app_seconds, direct_tokens, direct_seconds = Script(), 0, 0.0, 0, 0.0
    texts = {(t["turn"]): t["text"] for t in heard.named(DuelEvent.LINE_TEXT)}
    starts = heard.named(DuelEvent.LINE_STARTED)
    ends = {e["turn"]: e for e in heard.named(DuelEvent.LINE_ENDED)}
    async with aiohttp.ClientSession() as http:
        for start in starts:
            turn, speaker = start["turn"], start["speaker"]
            partner = next(name for name in cast.names if name != speaker)
            task = " ".join(m["content"] for m in nodes[start["phase"]]["task_messages"])
            now = DuelState(cast, topic, start["phase"], speaker, partner, turn)
            script.direct(start["phase"], fill(task, now.placeholders()))
            body = {
                "model": settings.llm_model, "stream": True, "max_tokens": settings.max_tokens,
                "temperature": generation.temperature(settings.temperature, 1),
                "seed": generation.seed(settings.seed, turn, 1),
                **generation.penalties(settings), **generation.engine_options(settings),
                "messages": [{"role": "system", "content": scene}, *script.screenplay(speaker)],
            }
            began, chunks = time.monotonic(), 0
            async with http.post(f"{engine_url}/chat/completions", json=body) as response:
                async for raw in response.content:
                    line = raw.decode().strip()
                    if line.startswith("data: {") and '"content"' in line:
                        delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                        chunks += bool(delta)
            direct_seconds += time.monotonic() - began
            direct_tokens += chunks
            if turn in ends:
                app_tokens += ends[turn]["tokens"]
                app_seconds += ends[turn]["llm_end"] - ends[turn]["llm_start"]
            script.say(Line(speaker, start["phase"], turn, texts.get(turn, "")))
    return app_tokens / app_seconds, direct_tokens / direct_seconds


def _piper_rtf(settings: Settings) -> dict:
    voices = Voices(voices_dir(settings.models_dir), settings.voice_threads)
    voices.warm()
    text = "Honestly, pineapple on pizza is the bravest thing a person can order on a first date."
    rtf = {}
    for voice_id in voices.ids():
        began = time.monotonic()
        seconds = sum(len(chunk) for chunk in voices.get(voice_id).synthesize(text, settings.sample_rate)) / settings.sample_rate
        rtf[voice_id] = round((time.monotonic() - began) / seconds, 3)
    return rtf


def timeline(heard: Heard, path: Path, title: str) -> None:
    """Per line: LLM, TTS and playback spans on the listener's clock, gaps visible."""
    marks, spans = heard.marks(), heard.line_spans()
    end = max([s[1] for s in spans] + [0.1])
    width, row, left, top = 1400, 54, 130, 60
    image = Image.new("RGB", (width, top + row * len(spans) + 60), "white")
    draw = ImageDraw.Draw(image)
    scale = (width - left - 30) / end
    x = lambda t: left + t * scale  # noqa: E731
    draw.text((left, 15), title, fill="black")
    for second in range(int(end) + 1):
        draw.line([(x(second), top - 8), (x(second), image.height - 40)], fill="#e6e6e6")
        draw.text((x(second) - 3, image.height - 35), f"{second}s", fill="#666666")
    colours = {"LLM": "#e4572e", "TTS": "#f3a712", "playing": "#29335c"}
    for k, ((start, stop), mark) in enumerate(zip(spans, marks)):
        y = top + k * row
        draw.text((10, y + 14), f"line {k + 1}", fill="black")
        bars = [("LLM", mark.get("llm_start"), mark.get("llm_end")), ("TTS", mark.get("tts_start"), mark.get("tts_end")), ("playing", start, stop)]
        for n, (name, a, b) in enumerate(bars):
            if a is not None and b is not None:
                draw.rectangle([x(a), y + n * 15, max(x(b), x(a) + 2), y + n * 15 + 11], fill=colours[name])
    for n, (name, colour) in enumerate(colours.items()):
        draw.rectangle([width - 330 + n * 105, 15, width - 318 + n * 105, 27], fill=colour)
        draw.text((width - 312 + n * 105, 15), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


async def _mode(lookahead: bool, short: bool, settings: Settings, out: Path) -> dict:
    turns = 1 if short else 2
    async with Server(lookahead) as server:
        health = await server.wait_healthy()
        ready = time.monotonic() - server.started
        first = await listen(server.url, _duel(turns, DEFAULT_TOPIC))
        cold = ready + first.first_audio
        heard = [first]
        for topic in ([] if short else ["cats versus dogs", "the best pizza topping"]):
            await server.wait_idle()  # a warm start is on an idle server, not beside the last duel's wrap-up
            heard.append(await listen(server.url, _duel(turns, topic)))
        one_duel_mb = sum(server.peak.values())
        peak = {k: round(v, 1) for k, v in server.peak.items()}
        await server.wait_idle()
        again = await listen(server.url, _duel(turns, DEFAULT_TOPIC))  # warm, on the cold duel's prompts
        result = {
            "server_ready_s": round(ready, 2),
            "cold_first_audio_s": round(cold, 2),
            "warm_first_audio_s": [None if h.first_audio is None else round(h.first_audio, 3) for h in [*heard[1:], again]],
            **_summary(heard),
            "peak_rss_mb": peak,
            "memory_one_duel_mb": round(one_duel_mb, 1),
        }
        if lookahead:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/api/flows/flirt_roast") as response:
                    flow = await response.json()
            app_rate, direct_rate = await _direct_rate(health["engine_url"], flow, heard[-1], settings)
            result["tokens_per_s"] = {"app": round(app_rate, 1), "direct": round(direct_rate, 1), "ratio": round(app_rate / direct_rate, 3)}
            timeline(heard[0], out / "timeline.png", f"one duel, lookahead on, pause {settings.pause}s")
            result["concurrency"] = await concurrency(server, [2] if short else CONCURRENCY, turns, one_duel_mb)
    return result


async def concurrency(server: Server, rows: list[int], turns: int, one_duel_mb: float) -> list[dict]:
    """Per row, n duels started together on the same server, heard by n listeners."""
    measured = []
    for n in rows:
        await server.wait_idle()
        server.reset_peak()
        together = await asyncio.gather(*(listen(server.url, _duel(turns, f"topic {i}")) for i in range(n)))
        memory = sum(server.peak.values())
        measured.append({
            "duels": n, **_summary(together), "memory_mb": round(memory, 1),
            "per_extra_duel_mb": round((memory - one_duel_mb) / (n - 1), 1) if n > 1 else None,
        })
    return measured


async def run(short: bool, out: Path) -> dict:
    settings = Settings()
    began = time.monotonic()
    lookahead = await _mode(True, short, settings, out)
    sequential = await _mode(False, short, settings, out)
    results = {
        "short": short,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "pause_s": settings.pause,
        "lookahead": lookahead,
        "sequential": sequential,
        "dead_air_ratio_sequential_over_lookahead": round(
            (sequential["dead_air_median_s"] or 0) / max(lookahead["dead_air_median_s"] or 0, 0.001), 1
        ),
        **concurrency_limits(lookahead),
        "piper_rtf": _piper_rtf(settings),
        "bench_seconds": round(time.monotonic() - began, 1),
        "targets": TARGETS,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def concurrency_limits(lookahead: dict) -> dict:
    """The most duels at once with no underrun, with the dead-air target met too, and how
    long lines stay at six duels against one."""
    runs = lookahead["concurrency"]
    quiet = [r["duels"] for r in runs if r["underruns"] == 0 and r["duels_ended"] == r["duels"]]
    on_time = [r["duels"] for r in runs if r["duels"] in quiet and (r["dead_air_p95_s"] or 0) <= 0.3]
    words = {r["duels"]: r["words_per_line"] for r in runs}
    return {
        "concurrent_duels_without_underrun": max(quiet, default=0),
        "concurrent_duels_meeting_dead_air_target": max(on_time, default=0),
        "words_per_line_at_6_over_1": round(words[6] / words[1], 2) if words.get(6) and words.get(1) else None,
    }


def concurrency_table(rows: list[dict]) -> str:
    """One row per number of duels at once, as heard by their listeners."""
    lines = [
        "| duels at once | ended | dead air median / p95 | underruns | words per line | drafts per line | stock lines | memory, server + engine |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['duels']} | {r['duels_ended']} | {r['dead_air_median_s']} / {r['dead_air_p95_s']} s | {r['underruns']} "
        f"| {r['words_per_line']} | {r['drafts_per_line']} | {r['stock_lines']} of {r['lines']} | {r['memory_mb']} MB |"
        for r in rows
    ]
    return "\n".join(lines)


def table(r: dict) -> str:
    """The measured figures beside their targets, as a Markdown table."""
    la, sq = r["lookahead"], r["sequential"]
    extra = [c["per_extra_duel_mb"] for c in la["concurrency"] if c["per_extra_duel_mb"] is not None]
    rows = [
        ("dead air median (lookahead / sequential)", f"{la['dead_air_median_s']} s / {sq['dead_air_median_s']} s", TARGETS["dead_air_median_s"] + " s"),
        ("dead air p95 (lookahead / sequential)", f"{la['dead_air_p95_s']} s / {sq['dead_air_p95_s']} s", TARGETS["dead_air_p95_s"] + " s"),
        (
            "dead air, sequential ÷ lookahead (medians)",
            f"{r['dead_air_ratio_sequential_over_lookahead']}×" if la["dead_air_median_s"] else "∞: lookahead has none",
            TARGETS["dead_air_ratio_sequential_over_lookahead"] + "×",
        ),
        ("drafts per line (lookahead / sequential)", f"{la['drafts_per_line']} / {sq['drafts_per_line']}", "—"),
        ("underruns inside lines (lookahead / sequential)", f"{la['underruns']} / {sq['underruns']}", TARGETS["underruns"]),
        ("warm start → first audio", f"{la['warm_first_audio_s']} s", TARGETS["warm_first_audio_s"] + " s"),
        ("cold: server start → first audio", f"{la['cold_first_audio_s']} s", TARGETS["cold_first_audio_s"] + " s"),
        ("LLM tokens/s: app / direct", f"{la['tokens_per_s']['app']} / {la['tokens_per_s']['direct']} = {la['tokens_per_s']['ratio']}", TARGETS["tokens_per_s_app_over_direct"]),
        ("Piper real-time factor", ", ".join(f"{k} {v}" for k, v in r["piper_rtf"].items()), "—"),
        ("concurrent duels with no underrun", str(r["concurrent_duels_without_underrun"]), TARGETS["concurrent_duels_without_underrun"]),
        ("concurrent duels with dead air p95 ≤ 0.3 s too", str(r["concurrent_duels_meeting_dead_air_target"]), TARGETS["concurrent_duels_without_underrun"]),
        ("words per line, 6 duels ÷ 1", str(r["words_per_line_at_6_over_1"]), TARGETS["words_per_line_at_6_over_1"]),
        ("memory, server + engine, one duel", f"{la['memory_one_duel_mb']} MB", TARGETS["memory_one_duel_mb"] + " MB"),
        ("memory per extra concurrent duel", ", ".join(f"{e} MB" for e in extra), TARGETS["memory_per_extra_duel_mb"] + " MB"),
    ]
    lines = ["| measure | measured | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
