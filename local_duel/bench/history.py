"""`local-duel history bench`: what the history costs, measured on a real database.

Speaks a dozen lines with the bundled Piper voices, keeps them as Ogg/Opus, then stores
that duel many times over (1,000 by default) and times what people do: keep a line as
it is spoken, build the duel's whole sound at its end, list the newest duels (plain and
filtered), open one, fetch its sound.
Storage is measured from the real speech and from the database's size on disk.
"""

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from local_duel.bench.stats import p95
from local_duel.core.settings import Settings
from local_duel.core.weights import voices_dir
from local_duel.history import audio
from local_duel.history.records import NewDuel, StoredLine
from local_duel.history.store import DuelStore
from local_duel.pipeline.voice import Voices
from local_duel.show.flow import DEFAULT_FLOW

LINES = [
    "So, you write code for a living? That explains the posture.",
    "And you tell jokes for a living, which explains the rent.",
    "At least my bugs get laughs. Yours get tickets.",
    "My tickets pay for dinner. Yours pay in applause.",
    "Applause is a currency, darling. You just can't afford it.",
    "I could, but I'd have to refactor my whole personality first.",
    "Please do. Start with the part that orders pineapple pizza.",
    "Pineapple is sweet and sour, like this date, apparently.",
    "Sweet? That's generous. I'd call it a merge conflict.",
    "Then let's resolve it. Your place or my repository?",
    "Neither. I'm pushing this date straight to production: the trash.",
    "Fine. But I'm keeping the breadsticks as a backup.",
]


def _ms(seconds: list[float]) -> dict:
    return {"median_ms": round(statistics.median(seconds) * 1000, 2), "p95_ms": round(p95(seconds) * 1000, 2)}


async def _timed(work, times: int = 20) -> list[float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        await work()
        spent.append(time.perf_counter() - started)
    return spent


async def run(duels: int, settings: Settings) -> dict:
    rate, pause = settings.sample_rate, settings.pause
    voices = Voices(voices_dir(settings.models_dir), settings.voice_threads)
    speakers = [voices.get(v) for v in voices.ids()[:2]]
    lines, start = [], 0.0
    for number, text in enumerate(LINES, 1):
        pcm = np.concatenate(list(speakers[number % 2].synthesize(text, rate)))
        seconds = len(pcm) / rate
        lines.append((StoredLine(
            number=number, speaker="Max" if number % 2 else "Ava", side="first" if number % 2 else "second", phase="flirt",
            turn=number, text=text, voice=speakers[number % 2].id, start_seconds=start, audio_seconds=seconds,
            spoken_at=datetime.now(UTC),
        ), audio.encode(pcm, rate)))
        start += seconds + pause
    speech_seconds = sum(line.audio_seconds for line, _ in lines)
    opus_bytes = sum(len(ogg) for _, ogg in lines)

    store = await DuelStore.open(settings)
    commits, whole = [], None
    try:
        started = time.perf_counter()
        for index in range(duels):
            cast = {"first": {"name": f"Max{index}", "persona": "p", "voice": "v"}, "second": {"name": "Zoë", "persona": "q", "voice": "v"}}
            duel = NewDuel(id=f"bench{index:06d}", flow=DEFAULT_FLOW, flow_snapshot="initial_node: flirt\n", cast=cast,
                           topic=f"topic number {index}", seed=7, settings={"sample_rate": rate, "pause": pause})
            await store.begin(duel, owner="bench")
            for line, ogg in lines:
                line_started = time.perf_counter()
                await store.add_line(duel.id, line, ogg)
                commits.append(time.perf_counter() - line_started)
            await store.finish(duel.id, "complete")
            if whole is None:  # encoded once, then kept for every duel as a finished duel keeps it
                build = time.perf_counter()
                whole = await audio.whole_ogg(store, duel.id, rate, finished=True)
                build_seconds = time.perf_counter() - build
            else:
                await store.keep_whole_audio(duel.id, whole)
        fill_seconds = time.perf_counter() - started
        newest = (await store.list_duels(limit=1)).items[0].id
        results = {
            "duels": duels,
            "lines_per_duel": len(lines),
            "database": store.engine.dialect.name,
            "speech_seconds_per_duel": round(start - pause, 2),
            "opus_kbit_per_s": round(opus_bytes * 8 / speech_seconds / 1000, 1),
            "opus_kb_per_minute_of_duel": round(len(whole) / 1024 / (start - pause) * 60, 1),
            "wav_kb_per_minute_of_duel": round(rate * 2 * 60 / 1024, 1),
            "keep_a_line": _ms(commits),
            "list_newest_20": _ms(await _timed(lambda: store.list_duels(limit=20))),
            "list_filtered_by_cast": _ms(await _timed(lambda: store.list_duels(limit=20, cast="max99"))),
            "list_page_50_deep": _ms(await _timed(lambda: store.list_duels(limit=20, offset=duels // 2))),
            "open_one": _ms(await _timed(lambda: store.get(newest))),
            "build_a_duels_ogg_at_its_end_ms": round(build_seconds * 1000),
            "get_a_kept_ogg": _ms(await _timed(lambda: store.whole_audio(newest))),
            "fill_seconds": round(fill_seconds, 1),
        }
        if store.engine.dialect.name == "sqlite":
            size = sum(p.stat().st_size for p in Path(store.engine.url.database).parent.glob("duels.db*"))
            results["database_mb"] = round(size / 2**20, 1)
            results["database_kb_per_minute_of_duel"] = round(size / 1024 / (duels * (start - pause) / 60), 1)
    finally:
        await store.close()
    return results


def bench(duels: int, database_url: str | None, out: Path) -> dict:
    """Run on `database_url` (it should be an empty, throwaway database) or a temporary SQLite."""
    with tempfile.TemporaryDirectory(prefix="local-duel-history-bench-") as scratch:
        settings = Settings(data_dir=Path(scratch), database_url=database_url)
        results = asyncio.run(run(duels, settings))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results
