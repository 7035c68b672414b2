"""The prompt each speaker reads (the template that turns it into a screenplay, rendered by
the embedded engine, is in tests/e2e/test_script_template.py)."""

from local_duel.pipeline.line import Line
from local_duel.pipeline.script import Script


def _script() -> Script:
    script = Script()
    script.direct("flirt", "Max and Ava flirt.")
    script.say(Line("Max", "flirt", 1, "Come here often?"))
    script.say(Line("Ava", "flirt", 2, "Only when I'm lost."))
    script.direct("flirt", "Said twice, kept once.")
    return script


def test_screenplay_is_the_same_for_both_speakers_but_the_cue():
    script = _script()
    [max_reads], [ava_reads] = script.screenplay("Max"), script.screenplay("Ava")
    assert max_reads == {"role": "user", "content": "(Max and Ava flirt.)\nMax: Come here often?\nAva: Only when I'm lost.\nMax:"}
    assert ava_reads["content"] == max_reads["content"].removesuffix("Max:") + "Ava:"


def test_chat_view_gives_the_speaker_its_own_lines_as_assistant():
    ava = _script().chat("Ava")
    assert ava == [
        {"role": "user", "content": "(Max and Ava flirt.)"},
        {"role": "user", "content": "Max: Come here often?"},
        {"role": "assistant", "content": "Only when I'm lost."},
        {"role": "user", "content": "(Your turn, Ava.)"},
    ]
    assert _script().chat("Max")[-1] == {"role": "user", "content": "Ava: Only when I'm lost."}


def test_a_long_duel_keeps_the_latest_lines_dropping_old_ones_in_batches():
    script = Script()
    script.direct("talk", "They talk.")
    for turn in range(1, 25):
        script.say(Line("Max" if turn % 2 else "Ava", "talk", turn, f"Line {turn}."))
    assert script.recent() == script.entries  # 24 lines: all remembered
    script.direct("fight", "They fight.")
    script.say(Line("Max", "fight", 25, "Line 25."))
    kept = script.recent()
    assert [e.text for e in kept[:2]] == ["They talk.", "Line 9."]  # 8 forgotten, the direction stays
    assert kept[-1].text == "Line 25." and len([e for e in kept if isinstance(e, Line)]) == 17
    before = script.screenplay("Ava")[0]["content"].removesuffix("Ava:")
    for turn in range(26, 33):  # no more drops until 8 more lines: the prompt only grows
        script.say(Line("Max" if turn % 2 else "Ava", "fight", turn, f"Line {turn}."))
        assert script.screenplay("Max")[0]["content"].startswith(before)
    script.say(Line("Ava", "fight", 33, "Line 33."))
    assert script.recent()[1].text == "Line 17."


def test_the_cue_carries_the_move_and_nothing_else_changes():
    script = _script()
    [plain] = script.screenplay("Ava")
    [moved] = script.screenplay("Ava", "teasing Max about his code")
    assert moved["content"] == plain["content"].removesuffix("Ava:") + "Ava (teasing Max about his code):"
    assert script.chat("Ava", "conceding a point")[-1] == {"role": "user", "content": "(Your turn, Ava: conceding a point.)"}


def test_a_spoken_line_keeps_its_move_so_the_next_prompt_extends_the_last():
    script = _script()
    cue = script.screenplay("Ava", "teasing Max about his code")[0]["content"]
    script.say(Line("Ava", "talk", 3, "Your code has more bugs than a picnic.", move="teasing Max about his code"))
    after = script.screenplay("Max", "firing back")[0]["content"]
    assert after.startswith(cue + " Your code has more bugs than a picnic.\n")
    assert after.endswith("\nMax (firing back):")
