"""`local-duel render`: a whole duel, offline, to a WAV and a transcript JSON."""

import asyncio
import json
import os
import resource
import secrets
import signal
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from pipecat.frames.frames import Frame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from local_duel.core.settings import Settings
from local_duel.engine import engine_for
from local_duel.history.leases import owner_id
from local_duel.history.recorder import Recording, new_duel
from local_duel.history.store import DuelStore
from local_duel.pipeline.duel import Duel
from local_duel.pipeline.line import Line
from local_duel.pipeline.pace import drafts_each
from local_duel.pipeline.voice import Voices
from local_duel.show.cast import Cast
from local_duel.show.flow import DuelFlow
from local_duel.show.rating import Rating


class Tape(FrameProcessor):
    """The end of a render pipeline: keeps every audio frame, in order, unpaced."""

    def __init__(self, sample_rate: int):
        super().__init__()
        self.audio = bytearray()
        self.sample_rate = sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputAudioRawFrame):
            self.audio += frame.audio
            self.sample_rate = frame.sample_rate
        await self.push_frame(frame, direction)

    def write(self, path: Path) -> float:
        """Write a mono 16-bit WAV; returns its duration in seconds."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes(bytes(self.audio))
        return len(self.audio) / 2 / self.sample_rate


@dataclass
class Render:
    """What a render produced, as written to the transcript JSON."""

    flow: str
    topic: str
    cast: dict
    seed: int
    pause_seconds: float
    drafts: int
    rating: str = ""
    lines: list[Line] = field(default_factory=list)
    wall_seconds: float = 0.0
    audio_seconds: float = 0.0
    peak_rss_mb: dict = field(default_factory=dict)
    error: str | None = None
    duel_id: str | None = None  # in the history, unless the render was not saved

    def as_dict(self) -> dict:
        return {**self.__dict__, "lines": [line.as_dict() for line in self.lines]}


def _peak_rss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux reports KiB


async def render(
    flow: DuelFlow,
    cast: Cast,
    topic: str,
    settings: Settings,
    voices: Voices,
    wav_path: Path,
    transcript_path: Path,
    turns_per_phase: int | None = None,
    on_line=None,
    rating: Rating | None = None,
    save: bool = True,
) -> Render:
    """Run one duel to the end (or to an error or Ctrl-C) and write what was said; with
    `save`, keep it in the duel history too, line by line as it is spoken."""
    # Nothing plays while a duel renders: no pace cuts its drafts, only the engine's slots.
    settings = settings.model_copy(update={"drafts": drafts_each(settings, 1)})
    result = Render(flow.name, topic, cast.model_dump(), settings.seed, settings.pause, settings.drafts)
    started = time.monotonic()
    tape = Tape(settings.sample_rate)
    async with engine_for(settings) as engine:
        views = await engine.views(cast)
        recording = None
        if save:
            record = new_duel(secrets.token_hex(6), flow, cast, topic, turns_per_phase, settings, views)
            store = await DuelStore.open(settings)
            recording = Recording(store, record, cast, owner_id(f"render pid {os.getpid()}"))
            result.duel_id = record.id
        duel = Duel(
            flow, cast, topic,
            llm_url=engine.url, voices=voices, settings=settings, views=views, rating=rating,
            output=[recording.recorder, tape] if recording else [tape], turns_per_phase=turns_per_phase, on_line=on_line,
        )
        result.rating = duel.rating
        await _play(duel, recording, result, settings)
        result.error = duel.error or result.error
    result.lines = duel.script.lines
    result.wall_seconds = round(time.monotonic() - started, 3)
    result.audio_seconds = round(tape.write(wav_path), 3)
    result.peak_rss_mb = {
        "app": _peak_rss_mb(resource.RUSAGE_SELF),
        "engine": _peak_rss_mb(resource.RUSAGE_CHILDREN) if engine.kind == "embedded" else None,
    }
    transcript_path.parent.mkdir(parents=True, exist_ok=True)
    transcript_path.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    return result


async def _play(duel: Duel, recording: Recording | None, result: Render, settings: Settings) -> None:
    """Run the duel to its end, kept line by line if `recording`; Ctrl-C stops it and
    keeps what was said."""

    @duel.worker.event_handler("on_pipeline_started")
    async def on_started(worker, frame):
        duel.begin()

    stopping: list[asyncio.Task] = []  # held, so the loop can't drop the cancel half-way

    def interrupt():
        result.error = "interrupted"
        loop.remove_signal_handler(signal.SIGINT)
        stopping.append(loop.create_task(duel.worker.cancel()))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        if recording:
            await recording.begin(rating=duel.rating)
        await duel.run()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if recording:
            try:
                await recording.end(duel.error, settings)
            finally:
                await recording.store.close()
