"""The duel's shared screenplay, and the two ways an agent can read it.

A base model reads the screenplay itself: stage directions and "Name: line" text, ending
on the speaker's cue. Both agents' prompts then share everything but the cue, so
llama.cpp reuses its KV cache and each turn costs only its own generation. An
instruction-tuned model reads a chat from its side instead: its own lines as
`assistant`, everything else as `user`.
"""

from dataclasses import dataclass, field

from local_duel.core.settings import PromptStyle
from local_duel.pipeline.line import Line


@dataclass
class Direction:
    """A stage direction: how a phase opens."""

    phase: str
    text: str


@dataclass
class Aside:
    """A stage direction from outside the flow: a heckle from the audience. Unlike a
    phase's direction it is forgotten with the lines around it."""

    text: str


REMEMBERED_LINES = 24  # an agent reads at most this many recent lines…
FORGOTTEN_AT_ONCE = 8  # …and the oldest are dropped this many at a time


@dataclass
class Script:
    """Everything said and directed so far, in order."""

    entries: list[Line | Direction | Aside] = field(default_factory=list)

    @property
    def lines(self) -> list[Line]:
        return [e for e in self.entries if isinstance(e, Line)]

    def recent(self) -> list[Line | Direction | Aside]:
        """What an agent reads: the latest lines, so a long duel never outgrows the LLM's
        context. Old lines go in batches, so the prompt keeps the same beginning, and
        llama.cpp its cache, between drops; the current phase's direction always stays."""
        lines = len(self.lines)
        forget = -(-max(0, lines - REMEMBERED_LINES) // FORGOTTEN_AT_ONCE) * FORGOTTEN_AT_ONCE
        if not forget:
            return list(self.entries)
        seen, cut = 0, 0
        for cut, entry in enumerate(self.entries):
            if isinstance(entry, Line):
                if seen == forget:
                    break
                seen += 1
        kept = self.entries[cut:]
        directions = [e for e in self.entries[:cut] if isinstance(e, Direction)]
        if directions and not any(isinstance(e, Direction) for e in kept[:1]):
            kept = [directions[-1], *kept]
        return kept

    def direct(self, phase: str, text: str) -> None:
        """Open `phase` with `text`, once."""
        if text and not any(isinstance(e, Direction) and e.phase == phase for e in self.entries):
            self.entries.append(Direction(phase, text))

    def direction(self, phase: str) -> str:
        """How `phase` was opened, or nothing."""
        return next((e.text for e in self.entries if isinstance(e, Direction) and e.phase == phase), "")

    def say(self, line: Line) -> None:
        self.entries.append(line)

    def interject(self, text: str) -> None:
        self.entries.append(Aside(text))

    def messages(self, view: PromptStyle, speaker: str, move: str = "") -> list[dict]:
        """The chat messages `speaker` reads next; the system instruction comes from the flow."""
        return self.screenplay(speaker, move) if view == "screenplay" else self.chat(speaker, move)

    def screenplay(self, speaker: str, move: str = "") -> list[dict]:
        """The whole script and the cue as one message, a line each. The cue carries the
        turn's move as a parenthetical, the form a base model follows: `Ava (teasing Max):`,
        and a spoken line keeps its cue's move. So each prompt is the one before it, the
        line and the next cue added (llama.cpp reuses all of it), and a whole scene is one
        text the tuned model learns from (`local_duel.tune.corpus`).

        One message, not one per line: Ollama merges consecutive same-role messages with
        a blank line between them, llama.cpp's template with none; as one message both
        engines see the same screenplay.
        """
        text = [f"({e.text})" if isinstance(e, (Direction, Aside)) else _row(e) for e in self.recent()]
        cue = f"{speaker} ({move}):" if move else f"{speaker}:"
        return [{"role": "user", "content": "\n".join([*text, cue])}]

    def chat(self, speaker: str, move: str = "") -> list[dict]:
        """The speaker's own lines as `assistant`; the partner's lines, directions and the
        turn's move as `user`."""
        messages = []
        for e in self.recent():
            if isinstance(e, (Direction, Aside)):
                messages.append({"role": "user", "content": f"({e.text})"})
            elif e.speaker == speaker:
                messages.append({"role": "assistant", "content": e.text})
            else:
                messages.append({"role": "user", "content": f"{e.speaker}: {e.text}"})
        if move:
            messages.append({"role": "user", "content": f"(Your turn, {speaker}: {move}.)"})
        elif not messages or messages[-1]["role"] == "assistant":
            messages.append({"role": "user", "content": f"(Your turn, {speaker}.)"})
        return messages


def _row(line: Line) -> str:
    """A spoken line as the screenplay shows it: `Ava (teasing Max): line`."""
    return f"{line.speaker} ({line.move}): {line.text}" if line.move else f"{line.speaker}: {line.text}"
