"""A duel's sound: each line kept as Ogg/Opus (libsndfile, through soundfile), and the
whole duel put back together from its lines, as Ogg/Opus or WAV.

Opus at 24 kHz mono keeps speech clear at about a tenth of the WAV's size. Each line is
placed at its own start time in the duel, so the pauses between speakers are rebuilt as
silence and a transcript's timings match the audio exactly. The whole is encoded once,
when the duel is over, and kept.
"""

import asyncio
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from local_duel.history.records import DuelDetail

if TYPE_CHECKING:
    from local_duel.history.store import DuelStore

OPUS_RATES = tuple(khz * 1000 for khz in (8, 12, 16, 24, 48))  # what Opus (and libsndfile) accepts
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


async def whole_ogg(store: "DuelStore", duel_id: str, sample_rate: int, finished: bool) -> bytes:
    """A duel's whole sound as Ogg/Opus: kept once it is over; until then built from its
    lines each time (and kept, if the duel is `finished` by now)."""
    if (ogg := await store.whole_audio(duel_id)) is not None:
        return ogg
    track = await asyncio.to_thread(assemble, await store.line_audio(duel_id), sample_rate)
    ogg = await asyncio.to_thread(encode, track, sample_rate)
    if finished:
        await store.keep_whole_audio(duel_id, ogg)
    return ogg


async def duel_file(store: "DuelStore", duel: DuelDetail, suffix: str) -> bytes:
    """A duel's sound as `ogg` or `wav` bytes; the WAV is exactly as long as the duel, so
    transcript times hold sample for sample."""
    rate = duel.settings["sample_rate"]
    if not duel.lines and suffix == "wav":  # an aborted start said nothing: an empty WAV, no Ogg to decode
        return to_wav(np.zeros(0, dtype=np.int16), rate)
    ogg = await whole_ogg(store, duel.id, rate, finished=duel.status != "running")
    if suffix == "ogg":
        return ogg
    samples, _ = await asyncio.to_thread(decode, ogg)
    track = np.zeros(round(duel.audio_seconds * rate), dtype=np.int16)
    track[: len(samples)] = samples[: len(track)]
    return await asyncio.to_thread(to_wav, track, rate)
