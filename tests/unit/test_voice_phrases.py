"""Where a line is cut into phrases, and a folder with no voice or a broken one: no Piper
voice is loaded here (the real voices speak in tests/e2e/test_voice.py)."""

import pytest

from local_duel.pipeline.voice import PHRASE_WORDS, UnknownVoiceError, Voices, phrases


def test_no_voices_says_how_to_fetch_them(tmp_path):
    with pytest.raises(UnknownVoiceError, match="local-duel models fetch"):
        Voices(tmp_path).check("en_US-joe-medium")


def test_a_broken_voice_file_is_named_not_fatal(tmp_path):
    (tmp_path / "en_US-broken.onnx").write_bytes(b"not a model")
    (tmp_path / "en_US-broken.onnx.json").write_text("{}")
    voices = Voices(tmp_path)
    voices.warm()  # logs it, carries on
    with pytest.raises(UnknownVoiceError, match="voice 'en_US-broken' in .* can't be loaded"):
        voices.get("en_US-broken")


def test_a_line_is_cut_where_a_speaker_would_pause():
    assert phrases("Hi, Max.") == ["Hi, Max."]  # short: one phrase, whatever its commas
    assert phrases("I think that comedian has to stand up, he is just plain meaner than this dude!") == [
        "I think that comedian has to stand up,", "he is just plain meaner than this dude!",
    ]
    # a dash is a pause but not a word, so the clause before it is ten words, not eleven
    assert phrases("That's what you should do when your friends come together - get rid of each other, okay?") == [
        "That's what you should do when your friends come together -", "get rid of each other, okay?",
    ]
    run = " ".join(f"w{i}" for i in range(22))  # no pause at all: three even parts
    assert [len(p.split()) for p in phrases(run)] == [8, 8, 6]
    assert phrases("Zoë, ça va? 🍕 ピザ は 好き") == ["Zoë, ça va? 🍕 ピザ は 好き"]
    assert phrases("...") == ["..."]
    long = "Well, well, well, look who it is: the one person in this town who thinks pineapple belongs on a pizza."
    assert " ".join(phrases(long)) == long  # every word kept, in order
    assert all(len(p.split()) <= PHRASE_WORDS for p in phrases(long))
