"""The content rating's steering, read from the bundled GGUF's vocabulary: every biased
token is a listed word, and only models whose vocabulary is known are steered (the
rating's filter and the LineEditor under it are in tests/unit/test_rating.py)."""

from local_duel.core.settings import Settings
from local_duel.core.weights import llm_path
from local_duel.show.rating import STEER, listed_words, steer_for, steering, vocabulary


def test_steering_biases_only_whole_listed_words_in_the_bundled_vocabulary():
    """The real GGUF's vocabulary: every biased token starts a word and is a listed word."""
    path = llm_path(Settings().models_dir)
    tokens = list(vocabulary(path))
    assert len(tokens) == 262144 and tokens[:3] == ["<pad>", "<eos>", "<bos>"]
    bias = steering(path)
    biased = {tokens[int(i)] for i in bias}
    assert all(t.startswith("▁") and t[1:].lower() in listed_words() for t in biased)
    assert {"▁fuck", "▁shit", "▁Fuck"} <= biased and "▁pizza" not in biased
    assert set(bias.values()) == {STEER} and STEER < 0


def test_only_models_with_a_known_vocabulary_are_steered(tmp_path):
    settings = Settings()
    assert list(steer_for([settings.llm_model, "not-here"], settings)) == [settings.llm_model]
    assert steer_for([settings.llm_model], Settings(llm_url="http://127.0.0.1:9/v1")) == {}  # an Ollama's own
