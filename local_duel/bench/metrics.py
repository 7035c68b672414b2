"""What makes a line worth hearing, measured: the metrics of `local-duel bench quality`.

Every metric but phase adherence is lexical (stems and word n-grams from
`local_duel.pipeline.words`); phase adherence is by meaning (`local_duel.pipeline.meaning`, the
encoder the ranker uses), because a line follows a direction without using its words.
All are deterministic, so the same lines always get the same numbers. The README
defines each one.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from local_duel.core.settings import Settings
from local_duel.pipeline.line import Line
from local_duel.pipeline.meaning import Encoder, encoder
from local_duel.pipeline.rank import generic, stuffed
from local_duel.pipeline.stock import FALLBACK_LINES
from local_duel.pipeline.words import bigrams, echoes, spoken, stems, word_limit, words
from local_duel.show.rating import profane


@dataclass(frozen=True)
class Yardstick:
    """What one duel's lines are measured against: its topic, the personas, and each
    phase's stage direction (the flow's task messages and its own moves, without the
    names, the topic or the personas, which belong to the whole duel)."""

    topic: str
    personas: dict[str, str]
    directions: dict[str, str]

    @property
    def names(self) -> list[str]:
        return list(self.personas)


def _phase_words(yard: Yardstick) -> dict[str, set[str]]:
    """Each phase's own stems: a stem every phase's direction has tells no phase apart,
    and the topic and names belong to the whole duel."""
    own = {p: stems(text, yard.names) - stems(yard.topic) for p, text in yard.directions.items()}
    common = set.intersection(*own.values()) if own else set()
    return {p: s - common for p, s in own.items()}


def judge(lines: Sequence[Line], yard: Yardstick, meaning: Encoder | None = None) -> list[dict]:
    """Per line, in order, what the metrics see in it (`meaning`: the bundled encoder's)."""
    phase_words = _phase_words(yard)
    topic = stems(yard.topic)
    meaning = meaning or encoder(Settings().models_dir)
    closest = meaning.nearest([line.text for line in lines], yard.directions)
    judged, said = [], []
    personas = list(yard.personas.values())
    for line, phase in zip(lines, closest):
        mine = stems(line.text, yard.names)
        others = {p: len(mine & s) for p, s in phase_words.items() if p != line.phase}
        borrowed = stuffed(line.text, yard.topic, personas, said, yard.names)
        limit = word_limit(line.move, yard.directions.get(line.phase, ""))
        judged.append({
            "speaker": line.speaker,
            "phase": line.phase,
            "move": line.move,
            "text": line.text,
            "topic": bool(mine & topic),
            "persona": bool(mine & (stems(yard.personas[line.speaker], yard.names) - topic)) and not borrowed,
            "phase_adherent": phase == line.phase,
            "phase_words": len(mine & phase_words.get(line.phase, set())) > max(others.values(), default=-1),
            "generic": generic(line.text, yard.names, [yard.topic, *yard.personas.values()]),
            "stuffed": borrowed,
            "limit": limit,  # the phase's or the move's word limit, if it sets one
            "within_limit": None if limit is None else spoken(line.text) <= limit,
            "profane": profane(line.text),
            "first_try": line.attempts == 1,
            "stock": line.text in FALLBACK_LINES,
            "repeat": words(line.text) in [words(old) for old in said],
            "echo": echoes(line.text, [yard.topic, *said]),
            "words": len(words(line.text)),
        })
        said.append(line.text)
    return judged


def distinct_2(texts: Sequence[str]) -> float:
    """Distinct word bigrams over all bigrams of a duel's lines (1.0: no bigram twice)."""
    grams = [g for text in texts for g in bigrams(text)]
    return len(set(grams)) / len(grams) if grams else 0.0


RATES = ["topic", "persona", "phase_adherent", "phase_words", "generic", "stuffed", "profane", "first_try", "stock", "echo"]


def summarise(duels: Sequence[list[dict]]) -> dict:
    """The matrix's numbers: rates over every line (the word limit's over the lines that
    have one), repeats counted, distinct-2 averaged over duels."""
    judged = [j for duel in duels for j in duel]
    limited = [j for j in judged if j.get("within_limit") is not None]
    n = len(judged) or 1
    return {
        "lines": len(judged),
        **{f"{rate}_rate": round(sum(j[rate] for j in judged) / n, 3) for rate in RATES},
        "repeats": sum(j["repeat"] for j in judged),
        "distinct_2": round(sum(distinct_2([j["text"] for j in d]) for d in duels) / (len(duels) or 1), 3),
        "mean_words": round(sum(j["words"] for j in judged) / n, 1),
        "within_limit_rate": round(sum(j["within_limit"] for j in limited) / len(limited), 3) if limited else None,
    }
