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
RUN = 3  # words in a row: a line that takes this many from a persona or an invented name is stuffed
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_NUMBERS = {w: n for n, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split(), 1)}
# "five words or fewer", "in 3 words or less", "five words at most", "at most five words", "no more than five words"
_LIMIT = re.compile(
    r"\b(?:(?:at most|no more than|up to|under|max(?:imum)?)\s+(\w+)\s+words?"
    r"|(\w+)\s+words?\s+(?:or (?:fewer|less)|at most|max(?:imum)?|tops))\b", re.IGNORECASE)
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


def runs(text: str, n: int = RUN) -> set[tuple[str, ...]]:
    """The word n-grams with a content word in them ("Norwegian fitness influencer", not
    "who does not"); none from a text shorter than n words."""
    found = words(text)
    grams = (tuple(found[i : i + n]) for i in range(len(found) - n + 1))
    return {g for g in grams if any(w not in STOP_WORDS for w in g)}


def named_runs(text: str, names: Iterable[str] = ()) -> set[tuple[str, ...]]:
    """The runs of `text` with two capitalised words or more in them, none of them "I" or
    one of `names` (the cast): the names and titles a line makes up ("Professor Zoe
    Sarnatzki"), which a model that has found a name tends to say in every line after."""
    skip = {"I", *(w for name in names for w in _WORD.findall(name))}  # "Dr. Nakamura": "Dr", "Nakamura"
    found = _WORD.findall(text.replace("’", "'"))
    grams = set()
    for i in range(len(found) - RUN + 1):
        gram = found[i : i + RUN]
        if sum(w[0].isupper() and w not in skip for w in gram) >= 2:
            grams.add(tuple(w.lower() for w in gram))
    return grams


def spoken(text: str) -> int:
    """How many words a listener hears, as a word limit counts them: "forty-nine" is one,
    and so is "42"."""
    return sum(any(ch.isalnum() for ch in token) for token in text.split())


def word_limit(*texts: str) -> int | None:
    """The fewest words any of `texts` (a line's move, its phase's direction) allows it
    ("a lightning round, five words or fewer": 5), in digits or spelled out to twelve;
    None if none sets a limit."""
    found = []
    for match in (m for text in texts for m in _LIMIT.finditer(text)):
        count = (match[1] or match[2]).lower()
        found.append(int(count) if count.isdigit() else _NUMBERS.get(count))
    return min((n for n in found if n), default=None)


def bigrams(text: str) -> list[tuple[str, str]]:
    found = words(text)
    return list(zip(found, found[1:]))
