"""A stored duel's files: its sound in Ogg/Opus (libsndfile) and WAV, and its transcript
as WebVTT (read back by webvtt-py), Markdown and JSON. No database needed."""

import html
import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest
import soundfile
import webvtt

from local_duel.history import audio
from local_duel.history.export import as_json, as_markdown, as_webvtt
from local_duel.history.records import DuelDetail, StoredLine

RATE = 24000


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    # a voiced-speech-like tone: a fundamental and a few harmonics, amplitude-modulated
    wave = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (wave * 6000).astype(np.int16)


def test_opus_keeps_the_length_and_is_about_ten_times_smaller_than_wav():
    pcm = tone(3.0, 140)
    ogg = audio.encode(pcm.tobytes(), RATE)
    back, rate = audio.decode(ogg)
    assert rate == RATE and abs(len(back) - len(pcm)) <= RATE // 100
    wav = audio.to_wav(pcm, RATE)
    assert len(wav) / len(ogg) >= 8, f"Opus {len(ogg)} B against WAV {len(wav)} B"
    assert np.corrcoef(back[: len(pcm)].astype(float), pcm[: len(back)].astype(float))[0, 1] > 0.9


def test_opus_refuses_a_rate_it_cannot_store():
    with pytest.raises(ValueError, match="22050 Hz"):
        audio.encode(tone(0.1, 100).tobytes(), 22050)


def test_lines_are_assembled_at_their_start_times_with_silence_between():
    lines = [(0.0, 1.0, audio.encode(tone(1.0, 120), RATE)), (1.25, 0.5, audio.encode(tone(0.5, 200), RATE))]
    track = audio.assemble(lines, RATE)
    assert len(track) == round(1.75 * RATE)
    loud = np.abs(track) > 500
    gap = slice(round(1.0 * RATE) + 200, round(1.25 * RATE) - 200)
    assert not loud[gap].any() and loud[: RATE].mean() > 0.3 and loud[round(1.25 * RATE):].mean() > 0.3
    wav, rate = soundfile.read(io.BytesIO(audio.to_wav(track, RATE)), dtype="int16")
    assert rate == RATE and len(wav) == len(track)


def duel(lines: list[tuple[str, str, str, float, float]]) -> DuelDetail:
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    return DuelDetail(
        id="abc", created_at=now, ended_at=now, status="complete", error=None, flow="flirt_roast",
        topic="Tabs <versus> spaces & “quotes”", line_count=len(lines), audio_seconds=lines[-1][3] + lines[-1][4],
        audio_bytes=1, source_id=None, flow_snapshot="", turns=None, seed=7, settings={"sample_rate": RATE},
        cast={"first": {"name": "Zoë", "persona": "a *bold* coder"}, "second": {"name": "Ōtani", "persona": "a pitcher"}},
        lines=[
            StoredLine(number=n, speaker=who, side="first" if n % 2 else "second", phase=phase, turn=n, text=text,
                       voice="v", start_seconds=start, audio_seconds=length, spoken_at=now)
            for n, (who, phase, text, start, length) in enumerate(lines, 1)
        ],
    )


SAMPLE = duel([
    ("Zoë", "flirt", "Hi <there> & welcome --> now.", 0.0, 2.5),
    ("Ōtani", "flirt", "Ça va? 日本語もOK.", 2.75, 1.25),
    ("Zoë", "roast", "An hour later, still here.", 3754.0, 3.0),
])


def test_webvtt_is_read_back_by_a_parser_with_the_lines_times_speakers_and_text(tmp_path):
    path = tmp_path / "duel.vtt"
    path.write_text(as_webvtt(SAMPLE), encoding="utf-8")
    cues = webvtt.read(str(path))
    assert [(c.start, c.end) for c in cues] == [
        ("00:00:00.000", "00:00:02.500"), ("00:00:02.750", "00:00:04.000"), ("01:02:34.000", "01:02:37.000"),
    ]
    assert [c.voice for c in cues] == ["Zoë", "Ōtani", "Zoë"]
    # webvtt-py leaves character references as written; a player decodes them as HTML does
    assert [html.unescape(c.text) for c in cues] == [line.text for line in SAMPLE.lines]
    assert "<there>" not in path.read_text() and "welcome --> now" not in path.read_text()


def test_markdown_reads_as_a_script_with_phases_and_escapes_markup():
    text = as_markdown(SAMPLE)
    assert text.startswith("# Tabs \\<versus\\> spaces & “quotes”\n")
    assert "a \\*bold\\* coder" in text
    assert "## flirt" in text and "## roast" in text
    assert "**Ōtani** (0:02): Ça va? 日本語もOK." in text and "**Zoë** (62:34): An hour later" in text


def test_json_keeps_everything_unicode_intact():
    data = json.loads(as_json(SAMPLE))
    assert data["cast"]["second"]["name"] == "Ōtani" and data["lines"][1]["text"] == "Ça va? 日本語もOK."
    assert "日本語" in as_json(SAMPLE)
