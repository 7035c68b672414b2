"""Flow files: the bundled one loads, and each kind of broken file is named and refused
(and by `local-duel render` itself, in tests/e2e/test_flow_render.py)."""

import pytest

from local_duel.core.paths import ROOT
from local_duel.show.flow import FlowFileError, load_flow

GOOD = """\
initial_node: chat
nodes:
  chat:
    role_message: "{{ first.name }} meets {{ second.name }} to talk about {{ topic }}."
    task_messages:
      - role: developer
        content: "{{ speaker }} is polite to {{ partner }}."
    post_actions:
      - {type: function, handler: take_turn, turns: 3, next: fight}
  fight:
    task_messages:
      - role: developer
        content: They argue.
    post_actions:
      - {type: function, handler: take_turn, turns: 3}
"""

def test_bundled_flow_has_three_phases_in_order():
    flow = load_flow(ROOT / "flows" / "flirt_roast.yaml")
    assert [(p.name, p.turns, p.next) for p in flow.phases] == [("flirt", 4, "roast"), ("roast", 4, "goodbye"), ("goodbye", 2, None)]
    assert all(len(p.moves) >= 2 for p in flow.phases) and flow.rating is None

def test_a_new_duel_is_written_in_yaml_alone(tmp_path):
    path = tmp_path / "polite.yaml"
    path.write_text(GOOD)
    assert [(p.name, p.turns) for p in load_flow(path).phases] == [("chat", 3), ("fight", 3)]

def test_each_phase_has_a_direction_to_be_judged_against():
    """The ranker and the quality benchmark judge a line's phase against these: the task
    messages and moves, with names, topic and personas left out (they are every phase's)."""
    directions = load_flow(ROOT / "flows" / "flirt_roast.yaml").directions()
    assert list(directions) == ["flirt", "roast", "goodbye"]
    assert "savage insults" in directions["roast"] and "roasting" in directions["roast"]
    assert not any("{{" in d or "Max" in d or "pizza" in d for d in directions.values())


BROKEN = {
    "bad YAML": ("initial_node: chat\nnodes: [unclosed", "not valid YAML"),
    "unknown next": (GOOD.replace("next: fight", "next: brawl"), "`next: brawl` names no node"),
    "missing prompts": (GOOD.replace('    role_message: "{{ first.name }} meets {{ second.name }} to talk about {{ topic }}."\n', ""), "needs a `role_message`"),
    "empty task": (GOOD.replace("content: They argue.", 'content: ""'), "node 'fight' needs `task_messages` with text"),
    "no turns": (GOOD.replace("turns: 3, next: fight", "next: fight"), "`turns` must be a whole number"),
    "zero turns": (GOOD.replace("turns: 3}", "turns: 0}"), "`turns` must be a whole number of at least 1, not 0"),
    "no take_turn": (GOOD.replace("      - {type: function, handler: take_turn, turns: 3}\n", "      - {type: end_conversation}\n"), "node 'fight' needs exactly one post-action"),
    "unknown handler": (GOOD.replace("handler: take_turn, turns: 3}", "handler: take_a_turn, turns: 3}"), "take_a_turn"),
    "unknown placeholder": (GOOD.replace("{{ partner }}", "{{ partnr }}"), "uses '{{ partnr }}'"),
    "phases loop": (GOOD.replace("turns: 3}", "turns: 3, next: chat}"), "phase 'chat' comes round again"),
    "schema": (GOOD.replace("initial_node: chat", "initial_node: nowhere"), "initial_node 'nowhere' is not a defined node"),
    "tool calls": (GOOD.replace("    post_actions:\n      - {type: function, handler: take_turn, turns: 3}\n", "    functions: [{name: go, transition_only: true, description: go, transition_to: chat}]\n    post_actions:\n      - {type: function, handler: take_turn, turns: 3}\n"), "offers LLM functions"),
}

@pytest.mark.parametrize("kind", BROKEN)
def test_broken_flow_error_names_file_and_problem(tmp_path, kind):
    text, problem = BROKEN[kind]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(FlowFileError) as error:
        load_flow(path)
    assert str(error.value).startswith(str(path)) and problem in str(error.value)

def test_include_is_refused_without_a_base_dir():
    from local_duel.show.flow import parse_flow

    with pytest.raises(FlowFileError, match="upload.yaml"):
        parse_flow("initial_node: a\nnodes: !include /etc/passwd\n", "upload.yaml")

def test_the_readme_example_duel_loads(tmp_path):
    """The three-phase duel the README teaches with is a working flow file."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Writing a duel")[1].split("```yaml")[1].split("```")[0]
    path = tmp_path / "talk_show.yaml"
    path.write_text(example)
    assert [(p.name, p.turns, p.next) for p in load_flow(path).phases] == [
        ("interview", 4, "scandal"), ("scandal", 4, "truce"), ("truce", 2, None),
    ]
