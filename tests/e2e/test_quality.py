"""The quality benchmark's metrics on hand-made lines: each can be true and false. Every
judgement runs the bundled sentence encoder (the phase by meaning), so these are
end-to-end; `bench quality --rejudge` runs in a child process. The benchmark's scene
splits are in tests/unit/test_quality_splits.py."""

from local_duel.bench.metrics import Yardstick, distinct_2, judge, summarise
from local_duel.pipeline.line import Line
from local_duel.pipeline.stock import FALLBACK_LINES

YARD = Yardstick(
    topic="🐙 octopuses are smarter than cats 🐱",
    personas={"Zoë": "a retired lighthouse keeper who collects sea glass", "Kai": "a chess prodigy"},
    directions={
        "flirt": "Zoë and Kai flirt and charm each other with compliments.",
        "roast": "They trade savage insults and mock each other.",
    },
)


def lines(*texts, phase="flirt"):
    return [Line("Zoë" if i % 2 == 0 else "Kai", phase, i + 1, t) for i, t in enumerate(texts)]


def test_topic_and_persona_by_stem():
    [a, b, c] = judge(lines("Octopus arms beat cat paws.", "Your chess is cute.", "I love the sea."), YARD)
    assert a["topic"] and not a["persona"]
    assert not b["topic"] and b["persona"]  # Kai's persona: chess
    assert not c["topic"] and c["persona"]  # Zoë's: sea


def test_phase_words_are_its_own_directions_stems():
    [flirt, neither] = judge(lines("What a charming compliment.", "Octopus arms are long."), YARD)
    [roast] = judge(lines("Savage, you mock yourself.", phase="roast"), YARD)
    assert flirt["phase_words"] and roast["phase_words"] and not neither["phase_words"]
    [wrong] = judge(lines("Another savage insult.", phase="flirt"), YARD)
    assert not wrong["phase_words"]


def test_phase_adherence_is_by_meaning_not_words():
    """The real embedding model: lines that share no word with any direction are still
    told apart by what they do."""
    said = lines("Your eyes are lovely, and I adore your laugh.", "Your face could curdle milk, you clown.")
    said[1].phase = "roast"
    assert [j["phase_adherent"] for j in judge(said, YARD)] == [True, True]
    assert not any(j["phase_words"] for j in judge(said, YARD))
    swapped = lines("Your face could curdle milk, you clown.", "Your eyes are lovely, and I adore your laugh.")
    swapped[1].phase = "roast"
    assert [j["phase_adherent"] for j in judge(swapped, YARD)] == [False, False]


def test_generic_retorts():
    [a, b, c] = judge(lines("It's not true.", "Yeah, I don't care.", "Cats nap while octopuses plot."), YARD)
    assert a["generic"] and b["generic"] and not c["generic"]


def test_echo_repeat_and_stock():
    said = lines(
        "Octopuses are smarter than cats, obviously.",
        "The lighthouse keeper says the sea is cold tonight.",
        "The lighthouse keeper says the sea is cold tonight.",
        FALLBACK_LINES[0],
        "A fresh thought about tentacles.",
    )
    judged = judge(said, YARD)
    assert [j["echo"] for j in judged] == [True, False, True, False, False]
    assert [j["repeat"] for j in judged] == [False, False, True, False, False]
    assert [j["stock"] for j in judged] == [False, False, False, True, False]


def test_profanity_and_first_try():
    said = lines("What the fuck, octopus.", "Clean words only.")
    said[1].attempts = 2
    judged = judge(said, YARD)
    assert [j["profane"] for j in judged] == [True, False]
    assert [j["first_try"] for j in judged] == [True, False]


def test_distinct_2_and_summary():
    assert distinct_2(["a b c", "a b c"]) == 0.5
    assert distinct_2(["a b", "c d"]) == 1.0
    duel = judge(lines("Octopus arms beat cat paws.", "It's not true."), YARD)
    total = summarise([duel])
    assert total["lines"] == 2 and total["topic_rate"] == 0.5 and total["generic_rate"] == 0.5
    assert total["mean_words"] == 4.0 and total["repeats"] == 0


def test_rejudge_scores_the_kept_lines_again(tmp_path):
    """`bench quality --rejudge` on the committed results: the same lines, judged by
    today's metrics, with totals that add up from the lines."""
    import json
    import shutil

    from helpers import local_duel
    from local_duel.core.paths import ROOT

    shutil.copy(ROOT / "bench" / "quality.json", tmp_path / "quality.json")
    kept = json.loads((tmp_path / "quality.json").read_text())
    for duel in kept["duels"]:
        for line in duel["lines"]:
            line["phase_adherent"] = None  # what a stale judgement would leave
    (tmp_path / "quality.json").write_text(json.dumps(kept))
    result = local_duel("bench", "quality", "--rejudge", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "quality.json").read_text())
    assert [line["text"] for d in again["duels"] for line in d["lines"]] == [line["text"] for d in kept["duels"] for line in d["lines"]]
    assert all(isinstance(line["phase_adherent"], bool) for d in again["duels"] for line in d["lines"])
    assert again["summary"] == summarise([d["lines"] for d in again["duels"]])
    assert "phase_adherent_rate" in result.stdout


def test_stuffed_lines_name_the_topic_three_times():
    [once, stuffed] = judge(lines("Octopus arms beat cat paws.", "Octopuses? An octopus beats any cat."), YARD)
    assert not once["stuffed"] and stuffed["stuffed"]


def test_borrowing_three_words_of_a_persona_or_of_an_invented_name_is_stuffing_not_persona():
    [borrowed, own] = judge(lines("A retired lighthouse keeper like me wins.", "Your lighthouse is a chess board."), YARD)
    assert borrowed["stuffed"] and not borrowed["persona"]
    assert not own["stuffed"] and own["persona"]
    said = lines("Professor Zoe Sarnatzki says octopuses cheat.", "Kai disagrees, calmly.", "Oh, Professor Zoe Sarnatzki again!")
    assert [j["stuffed"] for j in judge(said, YARD)] == [False, False, True]


def test_a_word_limit_is_read_from_the_move_or_the_direction_and_counted_over_its_lines():
    yard = Yardstick(YARD.topic, YARD.personas, {**YARD.directions, "lightning": "Lightning round: three words or fewer."})
    quick = lines("Octopus wins.", "Cats are smarter than any octopus.", phase="lightning")
    slow = lines("I love the sea.")
    slow[0].move = "in at most 2 words"
    judged = judge(quick + slow, yard)
    assert [j["limit"] for j in judged] == [3, 3, 2]
    assert [j["within_limit"] for j in judged] == [True, False, False]
    assert summarise([judged])["within_limit_rate"] == 0.333
    assert summarise([judge(lines("No limit here, friend."), yard)])["within_limit_rate"] is None
