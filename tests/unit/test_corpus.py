"""The committed corpus, as `local-duel tune` reads it: every scene in form, the held-out
split sharing nothing with training, and a wrong scene named by file, scene and entry."""

import pytest
import yaml

from local_duel.tune import corpus


def test_the_committed_corpus_loads_and_its_held_out_split_is_unseen():
    train, held_out = corpus.load("train"), corpus.load("held_out")
    assert len(train) >= 370 and sum(len(s.lines) for s in train) >= 4000 and len(held_out) >= 60
    assert corpus.overlap(train, held_out) == {"flows": set(), "personas": set(), "topics": set()}
    assert {s.rating for s in train} == {"family", "adult"}


SCENE = {
    "flow": "quiz-night", "topic": "owls", "cast": [{"name": "Ana", "persona": "a quizmaster"}, {"name": "Bo", "persona": "a contestant"}],
    "scene": "A quiz.",
    "script": [
        {"direction": "Lightning round: three words or fewer."},
        {"speaker": "Ana", "line": "Owls blink slowly."},
        {"speaker": "Bo", "line": "Wrong, forty-two owls."},  # a hyphenated word is one word
        {"speaker": "Ana", "line": "Correct, sadly."},
        {"speaker": "Bo", "line": "Told you."},
    ],
}


@pytest.mark.parametrize("change, problem", [
    (lambda s: s["script"][2].update(line="Wrong, there are forty-two owls."), "scene 1, script entry 3: 5 words, and its move or direction allows 3"),
    (lambda s: s["script"][2].update(speaker="Ana"), "script entry 3: Bo speaks here, not Ana"),
    (lambda s: s.pop("topic"), "scene 1: missing topic"),
])
def test_a_wrong_scene_is_named(tmp_path, change, problem):
    path = tmp_path / "quiz.yaml"
    path.write_text(yaml.safe_dump([SCENE]), encoding="utf-8")
    assert [len(s.lines) for s in corpus.read(path)] == [4]
    broken = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(broken[0])
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match=problem):
        corpus.read(path)
