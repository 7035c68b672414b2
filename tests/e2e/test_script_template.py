"""The template that turns the prompt each speaker reads (tests/unit/test_script.py) into a
screenplay, rendered by the embedded engine itself."""

from test_script import _script


def test_template_renders_scene_then_lines_ending_on_the_open_cue(render_template):
    """The real template through the embedded engine's own renderer. An empty assistant
    turn (a generation prompt) must add nothing after the cue, and both speakers'
    prompts must agree up to it, so the engine reuses its cache between turns."""
    messages = [{"role": "system", "content": "A first date."}, *_script().screenplay("Max")]
    prompt = render_template(messages)
    assert prompt == "A first date.\n\n(Max and Ava flirt.)\nMax: Come here often?\nAva: Only when I'm lost.\nMax:"
    assert render_template([*messages, {"role": "assistant", "content": ""}]) == prompt
    ava = render_template([messages[0], *_script().screenplay("Ava")])
    assert ava == prompt.removesuffix("Max:") + "Ava:"
