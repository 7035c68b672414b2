"""A nudge toward the cue: the words a turn's cue names (the topic, the speaker's
persona, the move) are made likelier as the model writes, by a positive `logit_bias` on
each word's whole-word tokens, in any case. The persona's words get a stronger one: at
the topic's strength, a line names the topic more than twice as often as the persona.

Asked in the prompt alone, the bundled model names the topic in about a quarter of its
samples; ranking chooses among what it wrote, and a nudge makes more of the drafts
worth choosing. A word used once is penalised like any other (the request's presence
and frequency penalties), so a line names it rather than repeats it.
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from local_duel.core.gguf import vocabulary
from local_duel.core.settings import Settings
from local_duel.pipeline.words import STOP_WORDS, stem, words
from local_duel.show.rating import ggufs

Lexicon = Mapping[str, tuple[int, ...]]


@cache
def lexicon(gguf: Path) -> Lexicon:
    """The model's whole-word tokens ("▁pizza", "▁Pizza") by lower-case word: one pass
    over the vocabulary, about half a second for Gemma's 262k tokens."""
    found: dict[str, list[int]] = {}
    for token_id, token in enumerate(vocabulary(gguf)):
        if token.startswith("▁") and token[1:].isalpha():
            found.setdefault(token[1:].lower(), []).append(token_id)
    return {word: tuple(ids) for word, ids in found.items()}


def lexicons_for(models: Iterable[str], settings: Settings) -> dict[str, Lexicon]:
    """The lexicon of each of `models` whose vocabulary is known (the embedded engine's
    GGUFs), if the nudge is on; other models are not nudged."""
    if not (settings.nudge or settings.nudge_persona):
        return {}
    return {model: lexicon(path) for model, path in ggufs(models, settings).items()}


def cue_words(texts: Iterable[str], names: Sequence[str]) -> tuple[str, ...]:
    """The content words of `texts`: no stop words, nothing under three letters, no names."""
    skip = {w for name in names for w in words(name)}
    found = (w for text in texts for w in words(text))
    return tuple(dict.fromkeys(w for w in found if len(w) > 2 and w not in STOP_WORDS and w not in skip))


def nudge(cue: Mapping[str, float], known: Lexicon) -> dict[str, float]:
    """A `logit_bias` raising each word's whole-word tokens by the word's bias; a word the
    vocabulary has no whole token for is looked up by its stem ("octopuses" → "octopus")."""
    return {str(i): bias for word, bias in cue.items() if bias for i in known.get(word) or known.get(stem(word), ())}
