"""Placeholder filling and the per-turn sampling formulas, shared by the duel and the
benchmark's direct replay."""

import pytest

from local_duel.pipeline import generation
from local_duel.show.placeholders import fill

STATE = {"first": {"name": "Max"}, "speaker": "Ava", "speaker.persona": "a comedian", "turn": 3}


def test_fill_walks_nested_state_and_takes_flat_dotted_keys_as_they_are():
    text = "{{ first.name }} and {{speaker}}, {{ speaker.persona }}, turn {{ turn }}, \\{{ topic }}"
    assert fill(text, STATE) == "Max and Ava, a comedian, turn 3, \\{{ topic }}"


def test_fill_names_a_missing_placeholder_unless_told_what_to_put():
    with pytest.raises(KeyError, match="second.name"):
        fill("{{ second.name }}", STATE)
    assert fill("[{{ second.name }}]", STATE, missing="") == "[]"


def test_a_retry_is_hotter_and_its_seeds_never_meet_the_attempt_before():
    first, retry = generation.seed(7, 2, 1), generation.seed(7, 2, 2)
    assert retry - first == generation.MAX_DRAFTS and generation.seed(7, 3, 1) > generation.seed(7, 2, 4)
    assert generation.temperature(0.9, 1) == 0.9 and generation.temperature(0.9, 3) == pytest.approx(1.3)
