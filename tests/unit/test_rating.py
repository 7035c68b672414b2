"""The content rating: under `family` a profane draft never reaches the voice.

The LineEditor is driven with Pipecat's own test helper, as the pipeline drives it: a
cue, the turn's drafts between the LLM's response frames, and what comes out is
what Voicebox would speak. The steering read from the bundled GGUF's vocabulary is in
tests/e2e/test_rating_vocabulary.py.
"""

from pipecat.frames.frames import LLMFullResponseEndFrame, LLMFullResponseStartFrame
from pipecat.tests.utils import run_test

from local_duel.pipeline.frames import CueFrame, DraftFrame, LineFrame
from local_duel.pipeline.line import Line
from local_duel.pipeline.script import Script
from local_duel.pipeline.stock import FALLBACK_LINES
from local_duel.pipeline.turn import MAX_ATTEMPTS, LineEditor
from local_duel.show.cast import DEFAULT_CAST, Cast
from local_duel.show.rating import profane

CAST = Cast.from_file(DEFAULT_CAST)
SWEARING = "Pineapple pizza is fucking genius, you shit engineer."
CLEAN = "Pineapple pizza is a crime, and so is your code."


async def spoken(drafts: list[str], rating: str, attempt: int = 1) -> list[str]:
    """What the editor lets through to the voice for one turn's drafts."""
    editor = LineEditor(Script(), CAST, "pineapple on pizza", rating, {})
    frames = [
        CueFrame(Line("Ava", "roast", 1, "", attempts=attempt)),
        LLMFullResponseStartFrame(),
        *(DraftFrame(text, 12, None) for text in drafts),
        LLMFullResponseEndFrame(),
    ]
    down, _ = await run_test(editor, frames_to_send=frames)
    return [f.line.text for f in down if isinstance(f, LineFrame)]


async def test_family_speaks_the_clean_candidate_even_if_the_profane_one_ranks_higher():
    assert await spoken([SWEARING, CLEAN], "adult") == [SWEARING]  # it would win on merit
    assert await spoken([SWEARING, CLEAN], "family") == [CLEAN]


async def test_family_with_only_profane_candidates_speaks_nothing_then_a_stock_line():
    assert await spoken([SWEARING, "Damn you."], "family") == []  # the turn is asked again
    last = await spoken([SWEARING, "Damn you."], "family", attempt=MAX_ATTEMPTS)
    assert len(last) == 1 and last[0] in FALLBACK_LINES and not profane(last[0])


async def test_lines_are_words_under_both_ratings():
    for rating in ("family", "adult"):
        assert await spoken(["🍍 Pineapple 🍕 is a crime against Naples! 🔥"], rating) == [
            "Pineapple is a crime against Naples!"
        ]


def test_stock_lines_are_clean():
    assert not any(profane(line) for line in FALLBACK_LINES)


INNOCENT = [
    "Max: I concede", "Max, I concede the point", "Scunthorpe", "assassin", "cocktail", "Dickens",
    "Sussex", "Essex", "classic", "grapefruit", "therapist", "shiitake", "pussycat", "peacock",
    "Hancock", "titmouse", "cumulative", "analysis", "button",
]


def test_the_filter_matches_whole_words_so_innocent_words_and_names_pass():
    """better-profanity's scan of a whole text joined "Max" and "I" into a listed word;
    names, places and words that merely contain a listed one are clean, and the listed
    words, their leetspeak and listed phrases are still caught."""
    assert [text for text in INNOCENT if profane(text)] == []
    for dirty in ("You are full of shit", "f*ck you", "sh1t happens", "Fuck!", "ASSHOLE", "what a blow job"):
        assert profane(dirty), dirty
