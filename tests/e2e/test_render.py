"""End to end: `local-duel render` on the bundled model, the embedded engine and Piper.

No fakes: the real CLI in a fresh process starts the real llama.cpp server on loopback,
and the offline guard (conftest) fails the test on any other connection.
"""

import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
import uuid
import wave
from pathlib import Path

import psutil
import pytest

from helpers import ROOT
from local_duel.core.settings import Settings
from local_duel.pipeline.line import clean
from test_flow import GOOD


def engines_marked(mark: str) -> list[psutil.Process]:
    """The engine processes started by a run whose environment carries `mark`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "llama-server" in " ".join(process.info["cmdline"] or []) and process.environ().get("LOCAL_DUEL_TEST_MARK") == mark:
                found.append(process)
        except psutil.Error:
            continue
    return found


def start_render(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    mark = uuid.uuid4().hex
    flow = tmp_path / "polite.yaml"
    flow.write_text(GOOD)
    command = [
        str(Path(sys.executable).with_name("local-duel")), "render", "--flow", str(flow), "--seed", "11",
        "--wav", str(tmp_path / "duel.wav"), "--transcript", str(tmp_path / "duel.json"), *args,
    ]
    env = {**os.environ, "LOCAL_DUEL_TEST_MARK": mark}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, mark


def wait_for_first_line(process: subprocess.Popen) -> str:
    for line in process.stdout:
        if line.startswith("[chat"):
            return line
    raise AssertionError(f"no line was printed: {process.stderr.read()}")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("render")
    process, mark = start_render(tmp_path)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return tmp_path, stdout, json.loads((tmp_path / "duel.json").read_text()), mark


def test_agents_strictly_alternate(rendered):
    _, _, transcript, _ = rendered
    speakers = [line["speaker"] for line in transcript["lines"]]
    assert len(speakers) == 6
    assert speakers == ["Max", "Ava"] * 3


def test_phase_changes_exactly_at_the_configured_turn(rendered):
    _, _, transcript, _ = rendered
    assert [(line["turn"], line["phase"]) for line in transcript["lines"]] == [
        (1, "chat"), (2, "chat"), (3, "chat"), (4, "fight"), (5, "fight"), (6, "fight"),
    ]


def test_every_line_is_clean_and_printed(rendered):
    _, stdout, transcript, _ = rendered
    for line in transcript["lines"]:
        text = line["text"]
        assert clean(text, ["Max", "Ava"]) == text, text  # already clean: cleaning changes nothing
        assert "<" not in text and ":" not in text[:12] and 2 <= len(text.split()) <= 40
        assert f"{line['speaker']}: {text}" in stdout
    assert len({line["text"] for line in transcript["lines"]}) == 6  # no line repeated


def test_wav_is_every_line_in_order(rendered):
    tmp_path, _, transcript, _ = rendered
    with wave.open(str(tmp_path / "duel.wav")) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getframerate() == 24000
    lines = transcript["lines"]
    assert all(line["audio_seconds"] > 0.3 for line in lines)
    pauses = transcript["pause_seconds"] * (len(lines) - 1)  # the beat between speakers
    assert transcript["pause_seconds"] == 0.25
    assert seconds == pytest.approx(sum(line["audio_seconds"] for line in lines) + pauses, abs=0.01)
    assert seconds == pytest.approx(transcript["audio_seconds"], abs=0.01)


def test_timings_are_measured(rendered):
    _, _, transcript, _ = rendered
    for line in transcript["lines"]:
        assert 0 < line["time_to_first_token"] < line["time_to_first_audio"]
    assert transcript["wall_seconds"] > 0 and transcript["peak_rss_mb"]["engine"] > 100


def test_engine_is_stopped_when_the_duel_ends(rendered):
    *_, mark = rendered
    assert engines_marked(mark) == []


def test_engine_dying_mid_duel_ends_it_with_a_clear_error_and_keeps_the_lines(tmp_path):
    process, mark = start_render(tmp_path)
    wait_for_first_line(process)
    for engine in engines_marked(mark):
        engine.kill()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "the duel stopped early: the LLM at http://127.0.0.1:" in stderr
    kept = json.loads((tmp_path / "duel.json").read_text())
    assert kept["lines"] and kept["error"].startswith("the LLM at")


def test_ctrl_c_stops_the_duel_and_the_engine(tmp_path):
    process, mark = start_render(tmp_path)
    wait_for_first_line(process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in stderr
    assert json.loads((tmp_path / "duel.json").read_text())["lines"]
    time.sleep(0.5)
    assert engines_marked(mark) == []


def test_a_short_default_duel_names_its_topic(tmp_path):
    """The bundled flow and model, as a user first hears them, with a topic of the
    user's: some line names it, every line is words only, and the duel is rated family."""
    from helpers import local_duel
    from local_duel.pipeline.words import stems
    from local_duel.show.rating import profane

    topic = "tabs versus spaces"
    result = local_duel(
        "render", "--topic", topic, "--turns", "2",
        "--wav", str(tmp_path / "duel.wav"), "--transcript", str(tmp_path / "duel.json"),
    )
    assert result.returncode == 0, result.stderr
    transcript = json.loads((tmp_path / "duel.json").read_text())
    texts = [line["text"] for line in transcript["lines"]]
    assert len(texts) == 6 and transcript["rating"] == "family"
    assert transcript["drafts"] == Settings().drafts  # nobody listens: a render writes every draft
    assert any(stems(text) & stems(topic) for text in texts), texts
    assert not any(profane(text) for text in texts)
    symbols = [ch for text in texts for ch in text if unicodedata.category(ch)[0] in "SC"]
    assert symbols == [], texts  # words and punctuation only: no emoji, signs or control characters


def test_an_agent_on_the_bundled_instruct_model_answers_the_chat_in_a_real_duel(tmp_path):
    """SmolLM2-135M-Instruct, a real instruction-tuned GGUF, on one side: it is prompted as a
    chat through its own template, and what it says is a clean line like the other side's."""
    from helpers import local_duel

    cast = tmp_path / "cast.yaml"
    cast.write_text(
        "first: {name: Max, persona: a smug engineer, voice: en_US-joe-medium}\n"
        "second: {name: Ava, persona: a sharp comedian, voice: en_US-joe-medium@1.35, model: smollm2-135m-instruct}\n"
    )
    result = local_duel(
        "render", "--cast", str(cast), "--turns", "1", "--topic", "tabs versus spaces",
        "--wav", str(tmp_path / "duel.wav"), "--transcript", str(tmp_path / "duel.json"),
    )
    assert result.returncode == 0, result.stderr
    lines = json.loads((tmp_path / "duel.json").read_text())["lines"]
    assert [line["speaker"] for line in lines] == ["Max", "Ava", "Max"]
    ava = lines[1]["text"]
    assert len(ava.split()) >= 2 and ava == clean(ava, ["Max", "Ava"]), ava
    assert not any(marker in ava for marker in ("<|im_start|>", "<|im_end|>", "Ava:")), ava
