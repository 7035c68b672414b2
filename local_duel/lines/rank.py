"""Sample and rank: of several candidate lines for one cue, the one worth speaking.

About a quarter of the bundled model's single samples touch the topic, whatever the
prompt says; choosing among several is the lever. A candidate is refused outright if
it is not fit to speak (nothing left after cleaning, mojibake, profane under `family`,
or an echo of the topic or of an earlier line); the rest are scored on what the quality
benchmark measures, with the same tools: cheap word-level ones, and for the phase the
same sentence encoder.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ftfy.badness import is_bad

from local_duel.lines.line import MAX_SENTENCES, clean
from local_duel.lines.meaning import Encoder
from local_duel.lines.words import echoes, stem, stems, words
from local_duel.show.rating import Rating, profane

# What each quality counts for. Topic first: it is what a listener notices missing.
WEIGHTS = {
    "topic": 2.0,
    "phase": 3.0,  # nearer in meaning to its own phase's direction than to the others'
    "persona": 1.0,
    "move": 0.5,  # the move or the phase's stage direction
    "partner": 0.5,
    "novelty": 1.0,
    "length": 0.5,
    "generic": -3.5,  # a content-free retort is often nearest a phase ("Goodbye, then!")
    "stuffed": -1.5,
}
GOOD_LENGTH = range(6, 23)  # words
RETORT_WORDS = 4
STUFFED_MENTIONS = 3


def generic(text: str, names: Sequence[str], subjects: Sequence[str]) -> bool:
    """A content-free retort: at most one content word, or a few words that touch none of
    the `subjects` (the topic, the personas). "I don't care." is; "Pineapple? Never." isn't."""
    mine = stems(text, names)
    touched = mine & set().union(*(stems(s, names) for s in subjects))
    return len(mine) <= 1 or (len(words(text)) <= RETORT_WORDS and not touched)


def stuffed(text: str, topic: str) -> bool:
    """The line names the topic's words three times or more ("Pineapple pizza? Pizza with
    pineapple!"): a keyword list, which the nudge toward the topic can overdo."""
    topical = stems(topic)
    return sum(stem(w) in topical for w in words(text)) >= STUFFED_MENTIONS


@dataclass(frozen=True)
class Scene:
    """What one turn's candidates are judged against."""

    names: Sequence[str]
    topic: str
    persona: str  # the speaker's
    move: str
    direction: str  # the phase's stage direction
    said: Sequence[str]  # every line so far, oldest first; the last is the partner's
    rating: Rating
    sentences: int = MAX_SENTENCES  # the most a line of this turn may keep (the writer's limit)
    phase: str = ""
    directions: Mapping[str, str] = field(default_factory=dict)  # every phase's (DuelFlow.directions)

    @property
    def partner_line(self) -> str:
        return self.said[-1] if self.said else ""


def fit(raw: str, scene: Scene) -> str | None:
    """The candidate cleaned into a speakable line, or None if it must not be spoken."""
    text = clean(raw, scene.names, scene.sentences)
    # The base model now and then writes UTF-8 read as Latin-1 ("Â œYou…"): no voice can say it
    if text is None or is_bad(text) or (scene.rating == "family" and profane(text)):
        return None
    if echoes(text, [scene.topic, *scene.said]):
        return None
    return text


def score(text: str, scene: Scene, closest: str = "") -> float:
    """Higher is better: on topic, in its phase (`closest` names the phase whose direction
    it is nearest in meaning), in character, on the move, answering the partner, new, of
    a speakable length, and neither a content-free retort nor a keyword list."""
    mine = stems(text, scene.names)
    topic = stems(scene.topic)
    persona = stems(scene.persona, scene.names) - topic
    move = stems(f"{scene.move} {scene.direction}", scene.names) - topic - persona
    earlier = set().union(*(stems(old, scene.names) for old in scene.said)) if scene.said else set()
    found = {
        "topic": bool(mine & topic),
        "phase": closest == scene.phase,
        "persona": bool(mine & persona),
        "move": bool(mine & move),
        "partner": bool(mine & stems(scene.partner_line, scene.names)),
        "novelty": len(mine - earlier) / len(mine) if mine else 0.0,
        "length": len(words(text)) in GOOD_LENGTH,
        "generic": generic(text, scene.names, [scene.topic, scene.persona]),
        "stuffed": stuffed(text, scene.topic),
    }
    return sum(WEIGHTS[k] * float(v) for k, v in found.items())


def best(candidates: Sequence[str], scene: Scene, meaning: Encoder | None = None) -> str | None:
    """The best fit candidate (the earliest among equals), or None if none is fit. With
    `meaning`, a candidate nearer its own phase's direction than the others' scores for it."""
    lines = [text for raw in candidates if (text := fit(raw, scene)) is not None]
    judged = meaning and len(lines) > 1 and len(scene.directions) > 1
    closest = meaning.nearest(lines, scene.directions) if judged else [""] * len(lines)
    return max(zip(lines, closest), key=lambda pair: score(pair[0], scene, pair[1]), default=(None,))[0]
