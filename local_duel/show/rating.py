"""The duel's content rating: `family` (the default) keeps profanity and slurs off the
voice, `adult` lets the model's words through.

Under `family` the bundled model is steered away from listed words as it writes (a
`logit_bias` on every vocabulary token that is one of them), and whatever still slips
through is refused before it can be spoken (`rank.fit`). The words come from a
maintained word list, better-profanity's, not a list of our own.
"""

import mmap
import re
import struct
from collections.abc import Iterable, Iterator
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from better_profanity import Profanity
from better_profanity.constants import ALLOWED_CHARACTERS

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


# GGUF metadata value types (llama.cpp's gguf spec): the byte size of each scalar type.
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def vocabulary(gguf: Path) -> Iterator[str]:
    """The model's tokens in id order, read straight from the GGUF header one at a time.
    The `gguf` package's reader took 90 s for Gemma's 262k-token vocabulary here;
    walking the header takes about a second and holds no list of it."""
    with gguf.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        magic, _, _, count = struct.unpack_from("<4sIQQ", data, 0)
        if magic != b"GGUF":
            raise ValueError(f"{gguf} is not a GGUF file")
        at = 24

        def string(at: int) -> tuple[str, int]:
            (size,) = struct.unpack_from("<Q", data, at)
            return data[at + 8 : at + 8 + size].decode("utf-8", "replace"), at + 8 + size

        def skip(kind: int, at: int) -> int:
            if kind == _STRING:
                return string(at)[1]
            if kind == _ARRAY:
                item, n = struct.unpack_from("<IQ", data, at)
                at += 12
                if item in _SCALAR_BYTES:
                    return at + n * _SCALAR_BYTES[item]
                for _ in range(n):
                    at = skip(item, at)
                return at
            return at + _SCALAR_BYTES[kind]

        for _ in range(count):
            key, at = string(at)
            (kind,) = struct.unpack_from("<I", data, at)
            at += 4
            if key == "tokenizer.ggml.tokens":
                _, n = struct.unpack_from("<IQ", data, at)
                at += 12
                for _ in range(n):
                    token, at = string(at)
                    yield token
                return
            at = skip(kind, at)
    raise ValueError(f"{gguf} has no tokenizer.ggml.tokens")


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
