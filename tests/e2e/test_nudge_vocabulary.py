"""The nudge's lexicon, read from the bundled GGUF's vocabulary (262,144 tokens: about a
second, no engine), and which models get one (tests/unit/test_nudge.py has the nudge
itself on a hand-made lexicon)."""

from local_duel.core.gguf import vocabulary
from local_duel.core.settings import Settings
from local_duel.core.weights import llm_path
from local_duel.pipeline.nudge import lexicon, lexicons_for

BUNDLED = llm_path(Settings().models_dir)


def test_the_lexicon_holds_every_whole_word_token_of_the_bundled_model_in_any_case():
    known = lexicon(BUNDLED)
    tokens = list(vocabulary(BUNDLED))
    assert {tokens[i] for i in known["pizza"]} == {"▁pizza", "▁Pizza"}
    assert all(tokens[i].startswith("▁") and tokens[i][1:].lower() == "engineer" for i in known["engineer"])
    assert "izza" not in known  # a piece inside a word is not a word


def test_only_the_embedded_engines_models_are_nudged_and_only_if_the_nudge_is_on():
    settings = Settings(nudge=3, nudge_persona=5)
    assert list(lexicons_for([settings.llm_model, "not-here"], settings)) == [settings.llm_model]
    assert lexicons_for([settings.llm_model], Settings()) == {}  # off by default: the taught model needs none
    assert list(lexicons_for([settings.llm_model], Settings(nudge=0, nudge_persona=5))) == [settings.llm_model]
    assert lexicons_for([settings.llm_model], Settings(nudge=3, llm_url="http://127.0.0.1:9/v1")) == {}  # an Ollama's own
