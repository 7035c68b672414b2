"""The words of a line as the ranker and the quality benchmark compare them.

Cheap and deterministic on purpose: content words (not stop words) reduced to their
Snowball stems, so "pizzas" meets "pizza" and "octopuses" meets "octopus", and word
n-grams for telling an echo from a new line. Any language's letters count as letters;
digits, emoji and symbols are not words.
"""

import re
from collections.abc import Iterable
from functools import cache

import snowballstemmer
from stop_words import get_stop_words

ECHO_SHARE = 0.5  # a text sharing this much of its word trigrams with another echoes it
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_STEMMER = snowballstemmer.stemmer("english")
STOP_WORDS = frozenset(get_stop_words("en"))


def words(text: str) -> list[str]:
    """Lower-case words, apostrophes kept inside them ("don't")."""
    return _WORD.findall(text.lower().replace("’", "'"))


@cache
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def stems(text: str, ignore: Iterable[str] = ()) -> set[str]:
    """The stems of the content words: no stop words, nothing under three letters, and
    none of the `ignore` words (names, say)."""
    skip = {w.lower() for w in ignore}
    return {stem(w) for w in words(text) if len(w) > 2 and w not in STOP_WORDS and w not in skip}


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n words is one gram of all its words."""
    found = words(text)
    if len(found) < n:
        return {tuple(found)} if found else set()
    return {tuple(found[i : i + n]) for i in range(len(found) - n + 1)}


def shared(text: str, other: str, n: int = 3) -> float:
    """The share of `text`'s word n-grams that `other` also has (0 to 1)."""
    mine = ngrams(text, n)
    return len(mine & ngrams(other, n)) / len(mine) if mine else 0.0


def echoes(text: str, others: Iterable[str]) -> bool:
    """Whether `text` shares at least ECHO_SHARE of its word trigrams with one of `others`."""
    return any(shared(text, other) >= ECHO_SHARE for other in others)


def bigrams(text: str) -> list[tuple[str, str]]:
    found = words(text)
    return list(zip(found, found[1:]))
