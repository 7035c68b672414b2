"""Piper voices, for real: the derived voice sounds different, keeps its timing, and any
dropped-in voice is selectable by name (a line's phrases, and voices that are missing or
broken, are in tests/unit/test_voice_phrases.py)."""

import shutil

import numpy as np
import psutil
import pytest

from local_duel.core import heap
from local_duel.core.settings import Settings
from local_duel.core.weights import voices_dir
from local_duel.pipeline.voice import UnknownVoiceError, Voices, phrases

SENTENCE = "I think pineapple on pizza is a crime, and I will not apologise for saying so."
RATE = 24000


@pytest.fixture(scope="module")
def voices() -> Voices:
    return Voices(voices_dir(Settings().models_dir))


def median_f0(audio: np.ndarray, rate: int = RATE) -> float:
    """Median fundamental frequency of voiced frames, by autocorrelation (60–400 Hz)."""
    x = audio.astype(np.float64) / 32768
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    lo, hi = rate // 400, rate // 60
    loudness = np.array([np.sqrt(np.mean(x[i : i + frame] ** 2)) for i in range(0, len(x) - frame, hop)])
    threshold = 0.3 * np.percentile(loudness, 90)
    pitches = []
    for n, i in enumerate(range(0, len(x) - frame, hop)):
        if loudness[n] < threshold:
            continue
        chunk = x[i : i + frame] - x[i : i + frame].mean()
        ac = np.correlate(chunk, chunk, "full")[frame - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:  # clearly periodic: voiced
            pitches.append(rate / lag)
    return float(np.median(pitches))


def speak(voices: Voices, voice_id: str) -> np.ndarray:
    return np.concatenate(list(voices.get(voice_id).synthesize(SENTENCE, RATE)))


def test_default_cast_voices_differ_in_pitch_by_at_least_15_percent(voices):
    low = speak(voices, "en_US-joe-medium")
    high = speak(voices, "en_US-joe-medium@1.35")
    f0_low, f0_high = median_f0(low), median_f0(high)
    assert 70 < f0_low < 200, f0_low  # a plausible adult speaking voice: the estimator works
    assert f0_high / f0_low >= 1.15, (f0_low, f0_high)
    assert abs(len(high) / len(low) - 1) < 0.15  # pitch moved, duration stayed


def test_unknown_voice_names_the_available_ones(voices):
    with pytest.raises(UnknownVoiceError, match="unknown voice 'en_GB-alan'.*en_US-joe-medium"):
        voices.check("en_GB-alan")
    with pytest.raises(UnknownVoiceError, match="pitch 3.0 is outside"):
        voices.check("en_US-joe-medium@3.0")


def test_a_voice_dropped_into_models_becomes_selectable(tmp_path, voices):
    source = voices.folder / "en_US-joe-medium.onnx"
    shutil.copy(source, tmp_path / "en_US-dropped-medium.onnx")
    shutil.copy(source.with_name(source.name + ".json"), tmp_path / "en_US-dropped-medium.onnx.json")
    mine = Voices(tmp_path)
    assert "en_US-dropped-medium" in mine.ids()
    assert len(np.concatenate(list(mine.get("en_US-dropped-medium@0.9").synthesize("Hello there.", RATE)))) > RATE // 2


def test_a_long_line_sounds_after_its_first_phrase_not_after_all_of_it(voices):
    voice = voices.get("en_US-joe-medium")
    line = "Well, well, well, look who it is: the one person in this town who thinks pineapple belongs on a pizza."
    chunks = list(voice.synthesize(line, RATE))
    assert len(chunks) == len(phrases(line)) >= 3
    # the first phrase is 7 of 20 words, but its slow "well, well, well" runs near 40% of
    # the audio and Piper's noise moves that either way; a line spoken whole would be 100%
    assert len(chunks[0]) < 0.6 * sum(len(c) for c in chunks)
    assert median_f0(np.concatenate(chunks)) > 70  # still a voice, not silence


def test_what_piper_freed_is_given_back_to_the_system(voices):
    """glibc keeps a freed decoder's tens of megabytes resident until trimmed."""
    voice = voices.get("en_US-joe-medium")
    long = " ".join(["the one person in this town who thinks pineapple belongs on a pizza"] * 3)
    process = psutil.Process()
    for _ in voice.piper.synthesize(long):  # the whole run at once, as Piper alone would
        pass
    held = process.memory_info().rss
    heap.give_back()
    assert held - process.memory_info().rss > 20e6, "nothing was given back"
