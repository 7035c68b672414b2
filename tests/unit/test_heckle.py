"""Heckles and votes in milliseconds, no model: the checks, the one-per-line box, and the
Prompter putting a waiting heckle into the very next line's prompt (pipecat's run_test)."""

import pytest
from pipecat.frames.frames import LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from local_duel.core.settings import Settings
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.frames import CueFrame
from local_duel.pipeline.heckle import MAX_CHARS, Heckle, HeckleBox, HeckleRate, HeckleRefused, check
from local_duel.pipeline.script import Script
from local_duel.pipeline.turn import Prompter
from local_duel.server.votes import VoteRefused, Votes
from local_duel.show.cast import Cast
from local_duel.show.phase import Phase


@pytest.mark.parametrize(
    "text, rating, code",
    [
        ("You are full of shit", "family", "rating"),
        ("x" * (MAX_CHARS + 1), "family", "too-long"),
        ("   ", "family", "empty"),
        (42, "family", "not-text"),
        ("bell\x07", "family", "not-plain-text"),
    ],
)
def test_a_heckle_is_refused_naming_why(text, rating, code):
    with pytest.raises(HeckleRefused) as refused:
        check(text, rating)
    assert refused.value.code == code


def test_adult_lets_swearing_through_and_lines_fold():
    assert check("You are full of shit", "adult") == "You are full of shit"
    assert check("Two\nlines 🍍", "family") == "Two lines 🍍"


def test_one_heckle_per_viewer_per_interval_and_one_per_line():
    rate = HeckleRate(10)
    rate.admit("a")
    with pytest.raises(HeckleRefused, match="try again"):
        rate.admit("a")
    rate.admit("b")
    box = HeckleBox()
    box.offer(Heckle("first", "a"))
    with pytest.raises(HeckleRefused) as refused:
        box.offer(Heckle("second", "b"))
    assert refused.value.code == "one-per-line"
    assert box.take() == "first" and box.take() is None


def test_votes_count_each_viewer_once_and_name_a_winner():
    votes = Votes()
    assert votes.winner() is None
    votes.cast("a", "first")
    votes.cast("a", "second")  # a change of mind, not a second vote
    votes.cast("b", "second")
    assert votes.tally() == {"first": 0, "second": 2} and votes.winner() == "second"
    with pytest.raises(VoteRefused, match="'first' or 'second'"):
        votes.cast("c", "Max")


async def prompts(heckles: list[str | None]) -> list[str]:
    """The prompts the Prompter sends for consecutive turns, a heckle (or none) waiting before each."""
    script = Script()
    waiting = iter(heckles)
    cast = Cast(first={"name": "Max", "persona": "p", "voice": "v"}, second={"name": "Ava", "persona": "q", "voice": "v"})
    prompter = Prompter(script, DuelState.opening(cast, "t", "flirt"), {"Max": "screenplay", "Ava": "screenplay"},
                        {"Max": "m", "Ava": "m"}, [Phase("flirt", 4, None, [])], Settings(moves=False), lambda: next(waiting))
    frames = [LLMContextFrame(LLMContext(messages=[{"role": "developer", "content": "They flirt."}])) for _ in heckles]
    down, _ = await run_test(prompter, frames_to_send=frames)
    cues = [f.line for f in down if isinstance(f, CueFrame)]
    texts = [f.context.get_messages()[0]["content"] for f in down if isinstance(f, LLMContextFrame)]
    assert [c.heckle for c in cues] == heckles
    return texts


async def test_a_waiting_heckle_is_in_the_very_next_prompt_and_stays_in_the_script():
    first, second, third = await prompts([None, "Do you even like pizza?", None])
    shout = '(Someone in the audience shouts: "Do you even like pizza?" Max answers the heckler.)'
    assert shout not in first
    assert second.endswith(f"{shout}\nMax (answering the heckler, then back to Ava):")
    assert shout in third and third.endswith("Max:")  # the next cue is bare again
