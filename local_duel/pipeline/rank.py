"""Sample and rank: of several draft lines for one cue, the one worth speaking.

About a quarter of the bundled model's single samples touch the topic, whatever the
prompt says; choosing among several is the lever. A draft is refused outright if
it is not fit to speak (nothing left after cleaning, mojibake, profane under `family`,
or an echo of the topic or of an earlier line); the rest are scored on what the quality
benchmark measures, with the same tools: cheap word-level ones, and for the phase the
same sentence encoder. A line stuffed with borrowed words earns no persona for them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from local_duel.pipeline.line import MAX_SENTENCES, clean
from local_duel.pipeline.meaning import Encoder
from local_duel.pipeline.words import echoes, named_runs, runs, spoken, stem, stems, word_limit, words
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
    "over_limit": -6.0,  # longer than the phase's word limit ("five words or fewer")
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


def stuffed(text: str, topic: str, personas: Sequence[str] = (), said: Sequence[str] = (), names: Sequence[str] = ()) -> bool:
    """A keyword list, not a line: the topic's words three times or more ("Pineapple
    pizza? Pizza with pineapple!"), or three words in a row of a persona ("I have space
    on my head for Norwegian fitness influencer Z") or of a name an earlier line made up
    ("Professor Zoe Sarnatzki" in every line): what rewards for topic and persona invite."""
    topical = stems(topic)
    if sum(stem(w) in topical for w in words(text)) >= STUFFED_MENTIONS:
        return True
    borrowed = set().union(*map(runs, personas), *(named_runs(old, names) for old in said))
    return bool(runs(text) & borrowed)


@dataclass(frozen=True)
class Scene:
    """What one turn's drafts are judged against."""

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
    personas: Sequence[str] = ()  # the whole cast's; the speaker's `persona` if empty

    @property
    def partner_line(self) -> str:
        return self.said[-1] if self.said else ""

    @cached_property
    def limit(self) -> int | None:
        """The words this turn's line may have, if its move or its phase's direction says
        (read once a turn, not once a draft)."""
        return word_limit(self.move, self.direction)


def fit(raw: str, scene: Scene) -> str | None:
    """The draft cleaned into a speakable line, or None if it must not be spoken."""
    text = clean(raw, scene.names, scene.sentences)
    if text is not None and scene.limit and spoken(text) > scene.limit and scene.sentences > 1:
        text = clean(raw, scene.names, 1)  # its first sentence may keep to the limit
    if text is None or (scene.rating == "family" and profane(text)):
        return None
    if echoes(text, [scene.topic, *scene.said]):
        return None
    return text


def score(text: str, scene: Scene, closest: str = "") -> float:
    """Higher is better: on topic, in its phase (`closest` names the phase whose direction
    it is nearest in meaning), in character, on the move, answering the partner, new, of
    a speakable length, inside the phase's word limit, and neither a content-free retort
    nor a keyword list."""
    mine = stems(text, scene.names)
    topic = stems(scene.topic)
    persona = stems(scene.persona, scene.names) - topic
    move = stems(f"{scene.move} {scene.direction}", scene.names) - topic - persona
    earlier = set().union(*(stems(old, scene.names) for old in scene.said)) if scene.said else set()
    borrowed = stuffed(text, scene.topic, scene.personas or [scene.persona], scene.said, scene.names)
    limit = scene.limit
    count = spoken(text) if limit else len(words(text))
    found = {
        "topic": bool(mine & topic),
        "phase": closest == scene.phase,
        "persona": bool(mine & persona) and not borrowed,
        "move": bool(mine & move),
        "partner": bool(mine & stems(scene.partner_line, scene.names)),
        "novelty": len(mine - earlier) / len(mine) if mine else 0.0,
        "length": count <= limit if limit else count in GOOD_LENGTH,
        # Under a word limit a short line is the point: only one with no content is generic
        "generic": len(mine) <= 1 if limit else generic(text, scene.names, [scene.topic, scene.persona]),
        "stuffed": borrowed,
        "over_limit": bool(limit) and count > limit,
    }
    return sum(WEIGHTS[k] * float(v) for k, v in found.items())


def best(drafts: Sequence[str], scene: Scene, meaning: Encoder | None = None) -> str | None:
    """The best fit draft (the earliest among equals), or None if none is fit. With
    `meaning`, a draft nearer its own phase's direction than the others' scores for it."""
    lines = [text for raw in drafts if (text := fit(raw, scene)) is not None]
    judged = meaning and len(lines) > 1 and len(scene.directions) > 1
    closest = meaning.nearest(lines, scene.directions) if judged else [""] * len(lines)
    return max(zip(lines, closest), key=lambda pair: score(pair[0], scene, pair[1]), default=(None,))[0]
