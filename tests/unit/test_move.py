"""The move picker: each turn's cue gets a concrete micro-direction from its phase."""

from dataclasses import replace

import pytest

from local_duel.show.flow import FlowFileError, parse_flow
from local_duel.show.move import DEFAULT_MOVES, MovePicker, check_moves, hook, plain

VALUES = {
    "speaker": "Zoë", "partner": "Björn Ødegård", "topic": "tabs versus spaces",
    "speaker.persona": "a retired lighthouse keeper", "partner.persona": "a fitness influencer",
}


@pytest.mark.parametrize(
    "persona, short",
    [
        ("a smug software engineer who thinks he is the funniest man alive", "a smug software engineer"),
        ("a retired lighthouse keeper from Brittany, who collects sea glass", "a retired lighthouse keeper from Brittany"),
        ("a tired surgeon with a grudge", "a tired surgeon"),
        ("an extremely long winded and very very elaborate description of a person", "an extremely long winded"),
        ("Kapitänin zur See", "Kapitänin zur See"),
        ("a retired Polish pastry chef from Kraków who bakes with butter", "a retired Polish pastry chef"),
        ("the grumpy owner of the last video rental shop", "the grumpy owner"),
    ],
)
def test_hook_is_a_persona_up_to_its_first_clause(persona, short):
    assert hook(persona) == short


def test_plain_topic_has_no_emoji():
    assert plain("🐙 octopuses are smarter than cats 🐱") == "octopuses are smarter than cats"
    assert plain("tabs versus spaces") == "tabs versus spaces"


def test_picker_fills_the_phase_moves_and_never_repeats_the_last_one():
    moves = ["teasing {{ partner }} about {{ topic }}", "bragging as {{ speaker.persona }}", "asking {{ partner }} why"]
    picker = MovePicker(seed=3)
    picked = [picker.pick(moves, VALUES) for _ in range(9)]
    assert set(picked) == {
        "teasing Björn Ødegård about tabs versus spaces",
        "bragging as a retired lighthouse keeper",
        "asking Björn Ødegård why",
    }
    assert all(a != b for a, b in zip(picked, picked[1:]))
    assert all(picked.count(p) == 3 for p in set(picked))  # the least used comes next


def test_picker_is_seeded():
    def run(seed):
        picker = MovePicker(seed)
        return [picker.pick([], VALUES) for _ in range(6)]

    assert run(1) == run(1)
    assert any(run(1) != run(seed) for seed in range(2, 8))


def test_a_phase_without_moves_gets_the_defaults():
    picker = MovePicker(0)
    picked = {picker.pick((), VALUES) for _ in range(len(DEFAULT_MOVES))}
    assert len(picked) == len(DEFAULT_MOVES)
    assert all("{{" not in p for p in picked)


def test_a_single_move_repeats():
    picker = MovePicker(0)
    assert [picker.pick(["in five words"], VALUES) for _ in range(2)] == ["in five words"] * 2


@pytest.mark.parametrize(
    "moves, problem",
    [("tease", "must be a list"), ([], "must be a list"), (["ok", ""], "must be a list"), (["about {{ weather }}"], "weather")],
)
def test_bad_moves_are_refused_naming_the_node(moves, problem):
    with pytest.raises(ValueError, match=f"node 'roast'.*{problem}"):
        check_moves("roast", moves)


def test_flow_files_carry_moves_and_a_rating():
    text = """
initial_node: a
nodes:
  a:
    role_message: "{{ first.name }} meets {{ second.name }}."
    task_messages: [{role: developer, content: "They talk."}]
    post_actions:
      - {type: function, handler: take_turn, turns: 1, next: b, rating: adult, moves: ["about {{ topic }}"]}
  b:
    task_messages: [{role: developer, content: "They part."}]
    post_actions: [{type: function, handler: take_turn, turns: 1}]
"""
    flow = parse_flow(text, "x.yaml")
    assert [p.moves for p in flow.phases] == [("about {{ topic }}",), ()]
    assert flow.rating == "adult" and replace(flow.phases[0], turns=3).moves == ("about {{ topic }}",)
    with pytest.raises(FlowFileError, match="x.yaml: node 'b'.*first node"):
        parse_flow(text.replace("turns: 1}]", "turns: 1, rating: family}]"), "x.yaml")
    with pytest.raises(FlowFileError, match="`rating` must be one of family, adult"):
        parse_flow(text.replace("rating: adult", "rating: spicy"), "x.yaml")


def test_the_opening_move_names_the_topic_when_the_phase_has_such_a_move():
    moves = ["complimenting {{ partner }}", "showing off as {{ speaker.persona }}", "asking {{ partner }} about {{ topic }}"]
    values = {"speaker": "Max", "partner": "Ava", "topic": "tabs versus spaces", "speaker.persona": "a coder", "partner.persona": "a comic"}
    for seed in range(20):
        picker = MovePicker(seed)
        assert picker.pick(moves, values) == "asking Ava about tabs versus spaces"
        assert picker.pick(moves, values) != "asking Ava about tabs versus spaces"  # then the least used again
    assert MovePicker(0).pick(moves[:2], values) in {"complimenting Ava", "showing off as a coder"}  # none names it
