"""A corpus file as `local-duel tune` reads it: a wrong scene is named by file, scene and
entry (the whole committed corpus, loaded, is in tests/e2e/test_corpus_committed.py)."""

import pytest
import yaml

from local_duel.tune import corpus

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
