"""A duel's sound: each line kept as Ogg/Opus (libsndfile, through soundfile), and the
whole duel put back together from its lines, as Ogg/Opus or WAV.

Opus at 24 kHz mono keeps speech clear at about a tenth of the WAV's size. Each line is
placed at its own start time in the duel, so the pauses between speakers are rebuilt as
silence and a transcript's timings match the audio exactly.
"""

import asyncio
import io
from collections.abc import Iterable

import numpy as np
import soundfile

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # what Opus (and libsndfile) accepts
COMPRESSION = 0.9  # libsndfile: 0 (largest) … 1 (smallest); 0.9 is about 32 kbit/s, clear for speech


def encode(pcm: bytes | np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono PCM → Ogg/Opus bytes."""
    if sample_rate not in OPUS_RATES:
        raise ValueError(f"Opus can't store {sample_rate} Hz audio; use one of {OPUS_RATES}")
    samples = np.frombuffer(pcm, dtype=np.int16) if isinstance(pcm, bytes) else pcm
    out = io.BytesIO()
    soundfile.write(
        out, samples, sample_rate, format="OGG", subtype="OPUS", compression_level=COMPRESSION
    )
    return out.getvalue()


def decode(ogg: bytes) -> tuple[np.ndarray, int]:
    """Ogg/Opus bytes → int16 samples and their rate."""
    samples, rate = soundfile.read(io.BytesIO(ogg), dtype="int16")
    return samples, rate


def assemble(parts: Iterable[tuple[float, float, bytes]], sample_rate: int) -> np.ndarray:
    """The duel's audio from (start seconds, length seconds, Ogg/Opus) per line: each line
    at its start, trimmed or padded to its recorded length, silence between."""
    parts = list(parts)
    end = max((start + length for start, length, _ in parts), default=0.0)
    track = np.zeros(round(end * sample_rate), dtype=np.int16)
    for start, length, ogg in parts:
        samples, _ = decode(ogg)
        first, count = round(start * sample_rate), round(length * sample_rate)
        samples = samples[:count]
        track[first : first + len(samples)] = samples[: len(track) - first]
    return track


def to_wav(track: np.ndarray, sample_rate: int) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, track, sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def duel_audio(parts: list[tuple[float, float, bytes]], sample_rate: int, suffix: str) -> bytes:
    """A whole duel's sound as `ogg` or `wav` bytes, built off the event loop."""
    track = await asyncio.to_thread(assemble, parts, sample_rate)
    return await asyncio.to_thread(encode if suffix == "ogg" else to_wav, track, sample_rate)
