"""The quality benchmark's scene splits, read from bench/ (its metrics, which run the
sentence encoder, are in tests/e2e/test_quality.py)."""


def test_the_dev_split_borrows_the_default_flow_and_shares_nothing_with_the_held_out_one():
    """Sampling and ranker choices are tried on bench/dev, so the held-out scenes stay unseen."""
    from local_duel.bench.quality import HELD_OUT, scenes
    from local_duel.core.paths import ROOT
    from local_duel.pipeline.words import word_limit

    dev, held_out = scenes(ROOT / "bench" / "dev"), scenes(HELD_OUT)
    assert {s.flow.name for s in dev} >= {"flirt_roast", "bake-off"}
    assert any(word_limit(d) for s in dev for d in s.flow.directions().values())  # a word-limited round

    def seen(split):
        return {s.topic for s in split} | {a.persona for s in split for a in s.cast.agents} | {s.flow.name for s in split}

    assert not seen(dev) & seen(held_out)
