"""Every custom frame a line travels in, in the order it meets them: the cue the
`Prompter` sends, the drafts the `Writer` writes for it, and the line the `LineEditor`
chose, on its way to be spoken. Wire events to the page are in `events`."""

from dataclasses import dataclass, field

from pipecat.frames.frames import DataFrame

from local_duel.pipeline.line import MAX_SENTENCES, Line


@dataclass
class CueFrame(DataFrame):
    """The line about to be written: who speaks, in which phase and turn, and the
    content words its cue names, each with the bias it is nudged by (local_duel.pipeline.nudge)."""

    line: Line
    words: dict[str, float] = field(default_factory=dict)


@dataclass
class DraftFrame(DataFrame):
    """One draft of a line as the model wrote it: its raw text, streamed tokens, the
    event-loop time its first token came (None if it wrote nothing), and how many
    sentences of it may be spoken."""

    text: str
    tokens: int
    first_token_at: float | None
    sentences: int = MAX_SENTENCES  # the most the line editor may keep of it


@dataclass
class LineFrame(DataFrame):
    """A clean line on its way to be spoken."""

    line: Line
