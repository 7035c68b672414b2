"""A move per line, chosen by code: the concrete micro-direction a speaker's cue carries.

A small base model follows a screenplay cue better than a stage direction three lines
up, so each turn's cue names one move: `Ava (teasing Max about being a smug software
engineer):`. A flow lists its own moves on a phase's `take_turn` action; a phase
without a list gets `DEFAULT_MOVES`. The ranker also scores drafts against the move.
"""

import random
import re
from collections.abc import Sequence

from local_duel.show.placeholders import MOVE_PLACEHOLDERS, fill, placeholders

# Phases without their own list: moves that suit any phase, each pointing the line at
# the topic, the partner's last line, or a persona.
DEFAULT_MOVES = (
    "with a strong opinion about {{ topic }}",
    "answering what {{ partner }} just said",
    "asking {{ partner }} a pointed question about {{ topic }}",
    "teasing {{ partner }} for being {{ partner.persona }}",
    "speaking as {{ speaker.persona }}, about {{ topic }}",
    "with a surprising fact about {{ topic }}",
)
_CLAUSE = re.compile(r",|;|:|\(|\s(?:who|that|which|whose|and|but|with)\s", re.IGNORECASE)
_SYMBOLS = re.compile(r"[^\w\s'’.,!?&-]")
HOOK_WORDS = 6  # a persona's short form, as a cue carries it
# Words a short form can't end on once cut: "a pastry chef from" or "the owner of the"
# read as a broken cue.
_DANGLING = frozenset("a an the of from in on at to for by with and or my his her their its our your".split())


def hook(persona: str) -> str:
    """A persona's short form for a cue: up to the first clause, at most a few words
    ("a smug software engineer who thinks…" → "a smug software engineer")."""
    head = _CLAUSE.split(" ".join(persona.split()), maxsplit=1)[0]
    words = head.split()
    kept = words[:HOOK_WORDS]
    if len(words) > HOOK_WORDS:  # cut mid-phrase: back to before its last small word
        kept = kept[: max((i for i, w in enumerate(kept) if i > 1 and w.lower() in _DANGLING), default=HOOK_WORDS)]
    while len(kept) > 1 and kept[-1].lower() in _DANGLING:
        kept.pop()
    return " ".join(kept).strip(" .")


def plain(topic: str) -> str:
    """The topic as words: emoji and symbols don't belong in a cue the model copies."""
    return " ".join(_SYMBOLS.sub(" ", topic).split()) or topic


def check_moves(node: str, moves) -> tuple[str, ...]:
    """A `moves` list from a flow file; ValueError naming the node and what is wrong."""
    if moves is None:
        return ()
    if not isinstance(moves, list) or not moves or not all(isinstance(m, str) and m.strip() for m in moves):
        raise ValueError(f"node '{node}': `moves` must be a list of non-empty texts, not {moves!r}")
    for move in moves:
        for key in placeholders(move):
            if key not in MOVE_PLACEHOLDERS:
                raise ValueError(f"node '{node}': move {move!r} uses '{{{{ {key} }}}}'; moves fill {', '.join(sorted(MOVE_PLACEHOLDERS))}")
    return tuple(moves)


class MovePicker:
    """Picks each turn's move: the least used of the phase's moves so far, never the one
    the previous turn had if there is another, ties broken by a seeded draw, so the same
    seed gives the same duel. The duel's opening move names the topic if one of the
    phase's moves does: the first line sets what the duel is about, and it is written
    from fewer drafts (`Settings.first_drafts`), with less ranking to find it."""

    def __init__(self, seed: int):
        self._random = random.Random(seed)
        self._used: dict[str, int] = {}
        self._last: str | None = None

    def pick(self, moves: Sequence[str], values: dict[str, str]) -> str:
        """The next move from `moves` (DEFAULT_MOVES if empty), its placeholders filled:
        speaker and partner are names, topic is `plain`, personas are `hook`s."""
        choices = list(moves or DEFAULT_MOVES)
        if not self._used:
            choices = [m for m in choices if "topic" in placeholders(m)] or choices
        fresh = [m for m in choices if m != self._last] or choices
        least = min(self._used.get(m, 0) for m in fresh)
        move = self._random.choice([m for m in fresh if self._used.get(m, 0) == least])
        self._used[move] = self._used.get(move, 0) + 1
        self._last = move
        return " ".join(fill(move, values).split())
