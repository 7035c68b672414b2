"""The committed corpus, as the tune run reads it: every scene of its 1.4 MB in form, and
the held-out split sharing nothing with training. Reading it all takes seconds (YAML),
which is why it is not in the unit layer with the corpus reader's own checks
(tests/unit/test_corpus.py)."""

from local_duel.tune import corpus


def test_the_committed_corpus_loads_and_its_held_out_split_is_unseen():
    train, held_out = corpus.load("train"), corpus.load("held_out")
    assert len(train) >= 370 and sum(len(s.lines) for s in train) >= 4000 and len(held_out) >= 60
    assert corpus.overlap(train, held_out) == {"flows": set(), "personas": set(), "topics": set()}
    assert {s.rating for s in train} == {"family", "adult"}
