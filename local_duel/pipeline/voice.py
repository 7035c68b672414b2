"""Piper voices from `models/voices/`, a pitch-shifted variant of each, and the processor
that speaks lines with them.

Only one voice is bundled, so a second agent needs a second voice made from it: synthesise
`pitch` times slower (Piper's length_scale), then play that back `pitch` times faster by
resampling. Duration stays, pitch moves by the factor. A voice id is the file stem
(`en_US-joe-medium`) or the stem with a pitch factor (`en_US-joe-medium@1.35`); any
`NAME.onnx` plus `NAME.onnx.json` dropped into `models/voices/` is a voice called NAME.
"""

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import soxr
from loguru import logger
from pipecat.frames.frames import (
    Frame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from piper import PiperConfig, PiperVoice, SynthesisConfig

from local_duel.core import heap
from local_duel.core.errors import LocalDuelError
from local_duel.core.weights import FETCH_COMMAND
from local_duel.pipeline.frames import LineFrame
from local_duel.pipeline.line import Line

PITCH_RANGE = (0.6, 1.8)
SUGGESTED_PITCH = 1.35
_VOICE_ID = re.compile(r"^(?P<base>[\w.-]+?)(?:@(?P<pitch>\d+(?:\.\d+)?))?$")
# Piper is given a line a phrase at a time, a phrase being at most this many words. Its
# decoder's memory and its time to the first sound grow with what it is given at once:
# a 32-word sentence held 350 MB above idle and took 1.6 s to its first sound; in phrases
# of 8 to 11 words it held 120 to 240 MB and sounded after 0.4 to 0.6 s, for no more time
# in all.
PHRASE_WORDS = 10
# where a speaker pauses: after a clause's or sentence's punctuation, or a spaced dash
_PAUSE = re.compile(r"(?<=[,;:.!?…—–])\s+|(?<=\s-)\s+")


def phrases(text: str, most: int = PHRASE_WORDS) -> list[str]:
    """`text` cut where a speaker would pause, the pieces joined back up to `most` words
    each, and a longer run without a pause cut into even parts. A dash or an emoji is
    not a word."""
    parts: list[list[str]] = []
    for clause in _PAUSE.split(text.strip()):
        tokens = clause.split()
        if not tokens:
            continue
        cuts = max(1, -(-_words(tokens) // most))
        size = -(-len(tokens) // cuts)
        parts += [tokens[i:i + size] for i in range(0, len(tokens), size)]
    joined: list[list[str]] = []
    for part in parts:
        if joined and _words(joined[-1]) + _words(part) <= most:
            joined[-1] += part
        else:
            joined.append(part)
    return [" ".join(tokens) for tokens in joined]


def _words(tokens: list[str]) -> int:
    return sum(any(c.isalnum() for c in token) for token in tokens)


class UnknownVoiceError(LocalDuelError, ValueError):
    """A voice id that names no voice in `models/voices/`, or a pitch out of range."""


@dataclass(frozen=True)
class Voice:
    """A loaded Piper voice, played at `pitch` times its natural pitch."""

    id: str
    piper: PiperVoice
    pitch: float = 1.0

    def synthesize(self, text: str, sample_rate: int) -> Iterator[np.ndarray]:
        """Yield int16 mono audio at `sample_rate`, one chunk per phrase."""
        native = self.piper.config.sample_rate
        config = SynthesisConfig(length_scale=self.piper.config.length_scale * self.pitch)
        for phrase in phrases(text):
            for chunk in self.piper.synthesize(phrase, syn_config=config):
                audio = chunk.audio_int16_array
                if self.pitch != 1.0 or native != sample_rate:
                    audio = soxr.resample(audio, native * self.pitch, sample_rate)
                yield audio


class Voices:
    """The voices in a folder, each ONNX model loaded once and shared by every duel."""

    def __init__(self, folder: Path, threads: int = 1):
        self.folder = folder
        self._threads = threads
        self._loaded: dict[str, PiperVoice] = {}
        self._lock = threading.Lock()

    def bases(self) -> list[str]:
        return sorted(
            p.name.removesuffix(".onnx")
            for p in self.folder.glob("*.onnx")
            if p.with_name(p.name + ".json").exists()
        )

    def ids(self) -> list[str]:
        """Every base voice, and its suggested higher variant."""
        return [v for base in self.bases() for v in (base, f"{base}@{SUGGESTED_PITCH}")]

    def check(self, voice_id: str) -> str:
        """Return `voice_id` if it names a voice here, else raise naming what exists."""
        match = _VOICE_ID.match(voice_id)
        bases = self.bases()
        if not bases:
            raise UnknownVoiceError(
                f"no Piper voices in {self.folder}; run `{FETCH_COMMAND}` to materialise them"
            )
        if not match or match["base"] not in bases:
            raise UnknownVoiceError(
                f"unknown voice '{voice_id}'; available: {', '.join(self.ids())} "
                f"(any base voice takes a pitch factor, e.g. {bases[0]}@1.2)"
            )
        pitch = float(match["pitch"] or 1.0)
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise UnknownVoiceError(
                f"voice '{voice_id}': pitch {pitch} is outside {PITCH_RANGE[0]}–{PITCH_RANGE[1]}"
            )
        return voice_id

    def _load(self, model: Path) -> PiperVoice:
        """Like `PiperVoice.load`, but lean: a bounded thread count (on a small machine
        Piper shares the cores with the LLM, and one thread speaks seven times faster than
        real time) and no memory arena, which kept 50–115 MB resident for about 20% less
        CPU per second of speech."""
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.enable_cpu_mem_arena = False
        config = PiperConfig.from_dict(json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=config)

    def warm(self) -> None:
        """Load every base voice and speak once with it, so no duel pays for the first run.
        A voice that won't load is left for `get` to report when a duel asks for it."""
        for base in self.bases():
            try:
                voice = self.get(base)
                for _ in voice.synthesize("Hello there.", voice.piper.config.sample_rate):
                    pass
            except UnknownVoiceError as e:
                logger.warning(str(e))

    def get(self, voice_id: str) -> Voice:
        """The voice, its model loaded once and shared."""
        match = _VOICE_ID.match(self.check(voice_id))
        base = match["base"]
        with self._lock:
            if base not in self._loaded:
                try:
                    self._loaded[base] = self._load(self.folder / f"{base}.onnx")
                except Exception as e:  # a broken file dropped into models/voices/
                    raise UnknownVoiceError(f"voice '{base}' in {self.folder} can't be loaded: {e}") from None
        return Voice(voice_id, self._loaded[base], float(match["pitch"] or 1.0))


class Voicebox(FrameProcessor):
    """Speaks each `LineFrame` in its speaker's voice, in order, as TTS frames.

    Piper runs in a worker thread one sentence at a time, so the first sentence's audio
    leaves while the second is still being synthesised. Frames after a line wait until
    the line's audio has been pushed, which keeps events in step with the audio.
    """

    def __init__(self, voices: dict[str, Voice], sample_rate: int):
        super().__init__()
        self._voices = voices
        self._sample_rate = sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LineFrame):
            await self._speak(frame.line)
        await self.push_frame(frame, direction)

    async def _speak(self, line: Line):
        loop = asyncio.get_running_loop()
        context_id = str(uuid.uuid4())
        chunks = self._voices[line.speaker].synthesize(line.text, self._sample_rate)
        line.mark("tts_start")
        await self.push_frame(TTSStartedFrame(context_id=context_id, append_to_context=False))
        await self.push_frame(TTSTextFrame(line.text, "sentence", context_id=context_id))
        while (audio := await asyncio.to_thread(next, chunks, None)) is not None:
            if line.time_to_first_audio is None:
                line.time_to_first_audio = loop.time() - line.started_at
            line.audio_seconds += len(audio) / self._sample_rate
            await self.push_frame(
                TTSAudioRawFrame(audio.tobytes(), self._sample_rate, 1, context_id=context_id)
            )
        line.mark("tts_end")
        await asyncio.to_thread(heap.give_back)
        await self.push_frame(TTSStoppedFrame(context_id=context_id))
