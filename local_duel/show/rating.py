"""The duel's content rating: `family` (the default) keeps profanity and slurs off the
voice, `adult` lets the model's words through.

Under `family` the bundled model is steered away from listed words as it writes (a
`logit_bias` on every vocabulary token that is one of them), and whatever still slips
through is refused before it can be spoken (`rank.fit`). The words come from a
maintained word list, better-profanity's, not a list of our own.
"""

import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from better_profanity import Profanity
from better_profanity.constants import ALLOWED_CHARACTERS

from local_duel.core.gguf import vocabulary
from local_duel.core.settings import Settings
from local_duel.core.weights import llm_path

Rating = Literal["family", "adult"]
RATINGS: tuple[Rating, ...] = ("family", "adult")
DEFAULT_RATING: Rating = "family"
STEER = -100.0  # llama.cpp's logit bias for a listed word's tokens: in effect, never written

_FILTER = Profanity()
_WORD = re.compile(f"[{re.escape(''.join(sorted(ALLOWED_CHARACTERS)))}]+")
_LONGEST_PHRASE = 5  # words: "2 girls 1 cup"


def profane(text: str) -> bool:
    """Whether the text has a listed word or phrase (leetspeak spellings included), word
    by word. better-profanity's own scan of a whole text joins a name to the words after
    it and flagged "Max: I concede"; each listed entry is matched here as whole words."""
    words = _WORD.findall(text.lower())
    return any(
        " ".join(words[i : i + n]) in _FILTER.CENSOR_WORDSET
        for n in range(1, _LONGEST_PHRASE + 1) for i in range(len(words) - n + 1)
    )


def listed_words() -> set[str]:
    """The word list's single words, lower case."""
    text = (files("better_profanity") / "profanity_wordlist.txt").read_text(encoding="utf-8")
    return {w.strip().lower() for w in text.splitlines() if w.strip() and " " not in w.strip()}


@cache
def steering(gguf: Path) -> dict[str, float]:
    """A `logit_bias` for the model in `gguf`: every token that is a whole listed word
    starting a word (SentencePiece's "▁"), in any case, biased by STEER. Pieces inside
    words are left alone: "arian" is in "vegetarian"."""
    listed = listed_words()
    return {
        str(token_id): STEER
        for token_id, token in enumerate(vocabulary(gguf))
        if token.startswith("▁") and token[1:].lower() in listed
    }


def ggufs(models: Iterable[str], settings: Settings) -> dict[str, Path]:
    """The GGUF of each of `models` whose vocabulary can be read: the embedded engine's,
    from models/llm/. An external server's models have none here."""
    if settings.llm_url:
        return {}
    found = {}
    for model in models:
        path = llm_path(settings.models_dir) if model == settings.llm_model else settings.models_dir / "llm" / f"{model}.gguf"
        if path.is_file():
            found[model] = path
    return found


def steer_for(models: Iterable[str], settings: Settings) -> dict[str, dict[str, float]]:
    """The `logit_bias` of each model a family duel's agents use. Steering needs the
    model's vocabulary, so only the embedded engine's GGUFs are steered; every other
    model's lines are still filtered before they are spoken."""
    return {model: steering(path) for model, path in ggufs(models, settings).items()}
