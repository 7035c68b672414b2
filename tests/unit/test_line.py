"""Line cleaning: what the base model writes, and what may be spoken of it."""

import pytest

from local_duel.pipeline.line import clean, settled_sentences

NAMES = ["Max", "Ava"]


@pytest.mark.parametrize(
    "raw, spoken",
    [
        (" So, you come here often?", "So, you come here often?"),
        ("Ava: Oh please, you call that a joke?", "Oh please, you call that a joke?"),
        ("Nice shirt. Did your mom pick it? Max: She did.", "Nice shirt. Did your mom pick it?"),
        ("One. Two. Three.", "One. Two."),
        ("Well (laughs) I never liked pizza anyway", "Well I never liked pizza anyway."),
        (' “Hey, what’s up?”', "Hey, what’s up?"),
        ("I love you.<end_of_turn>\n<start_of_turn>user", "I love you."),
        ("you are a *sigh* disaster.", "You are a disaster."),
        ("I mean it. And another thing", "I mean it."),
        ("Sure, darling. [beat] Whatever you say (rolls eyes", "Sure, darling."),
        ("They don´t know. It`s Ava`s.", "They don’t know. It’s Ava’s."),  # apostrophes written as accents
        ("Wait ` what?", "Wait what?"),  # …but an accent on its own is a symbol
    ],
)
def test_clean_keeps_one_or_two_sentences_in_character(raw, spoken):
    assert clean(raw, NAMES) == spoken


@pytest.mark.parametrize("raw", ["", "   ", "<end_of_turn>", "Max:", "Ava: Max:", "(pause)", "*sighs*", "...", "Hmm", "Max"])
def test_clean_rejects_what_is_not_a_line(raw):
    assert clean(raw, NAMES) is None


def test_clean_caps_a_runaway_sentence():
    text = clean(" ".join(["blah"] * 80), NAMES)
    assert text is not None and len(text.split()) == 40 and text.endswith("…")


@pytest.mark.parametrize(
    "names, raw, spoken",
    [
        (["さくら", "Ólafur"], "さくら: さくら: Ólafur, you call that pizza?", "Ólafur, you call that pizza?"),
        (["さくら", "Ólafur"], "Nice try. Ólafur: Thanks.", "Nice try."),
        (["Søren", "Zoë"], "Zoë : Søren, darling, you are late!", "Søren, darling, you are late!"),
        (["Борис", "Анна"], "Анна: Борис, ты опять опоздал.", "Борис, ты опять опоздал."),
        (["さくら", "けん"], "けん：ピザにパイナップルは絶対に許せない！さくら：なぜ？", "ピザにパイナップルは絶対に許せない！"),
    ],
)
def test_clean_knows_names_and_sentences_in_any_script(names, raw, spoken):
    assert clean(raw, names) == spoken


def test_clean_keeps_a_colon_that_is_not_a_speaker_tag():
    assert clean("Rule one: never trust a pizza.", NAMES) == "Rule one: never trust a pizza."


def test_clean_keeps_no_more_sentences_than_the_writer_allows():
    assert clean("Hi, Ava. Nice to meet you.", NAMES, sentences=1) == "Hi, Ava."


@pytest.mark.parametrize(
    "raw, settled",
    [
        ("Hi.", 0),  # "Hi." may yet become "Hi..." or "Hi.5"
        ("Hi. ", 1),
        ("Hi there! How are you? I", 2),
        ("I rated it 3.", 0),
        ("... Well ", 0),  # an end mark with no words before it is no sentence
        ("Ava: (laughs) Hi. Yo", 1),
        ("こんにちは。元気", 1),  # CJK: the end mark itself settles it
        ("Hi\nMax: yo. ok. ", 0),  # the editor keeps only the first line
    ],
)
def test_settled_sentences_count_what_no_later_token_can_change(raw, settled):
    assert settled_sentences(raw) == settled
