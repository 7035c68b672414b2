"""The duel's content rating: `family` (the default) keeps profanity and slurs off the
voice, `adult` lets the model's words through.

Under `family` the bundled model is steered away from listed words as it writes (a
`logit_bias` on every vocabulary token that is one of them), and whatever still slips
through is refused before it can be spoken (`rank.fit`). The words come from a
maintained word list, better-profanity's, not a list of our own.
"""

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from better_profanity import Profanity

Rating = Literal["family", "adult"]
RATINGS: tuple[Rating, ...] = ("family", "adult")
DEFAULT_RATING: Rating = "family"
STEER = -100.0  # llama.cpp's logit bias for a listed word's tokens: in effect, never written

_FILTER = Profanity()


def profane(text: str) -> bool:
    """Whether the text has a listed word (leetspeak spellings included)."""
    return _FILTER.contains_profanity(text)


def listed_words() -> set[str]:
    """The word list's single words, lower case."""
    text = (files("better_profanity") / "profanity_wordlist.txt").read_text(encoding="utf-8")
    return {w.strip().lower() for w in text.splitlines() if w.strip() and " " not in w.strip()}


@cache
def steering(gguf: Path) -> dict[str, float]:
    """A `logit_bias` for the model in `gguf`: every token that is a listed word, with or
    without its leading space and in any case, biased by STEER."""
    from gguf import GGUFReader

    tokens = GGUFReader(gguf).fields["tokenizer.ggml.tokens"]
    listed = listed_words()
    bias = {}
    for token_id, part in enumerate(tokens.data):
        word = bytes(tokens.parts[part]).decode("utf-8", "replace").replace("▁", " ").strip().lower()
        if word in listed:
            bias[str(token_id)] = STEER
    return bias
