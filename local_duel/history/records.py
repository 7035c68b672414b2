"""What the history hands out: duels and lines as plain pydantic records, the same for
the HTTP API, the CLI and the exports."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

# running → complete (played to its end), stopped (the listener hung up or pressed Stop),
# failed (an error ended it), or interrupted (its server died before it ended)
Status = Literal["running", "complete", "stopped", "failed", "interrupted"]


class StoredLine(BaseModel):
    """One line as kept: who said it, where it sits in the duel's audio, its timings."""

    number: int
    speaker: str
    side: str  # "first" or "second"
    phase: str
    turn: int
    text: str
    voice: str
    attempts: int = 1
    tokens: int = 0
    start_seconds: float
    audio_seconds: float
    time_to_first_token: float | None = None
    time_to_first_audio: float | None = None
    spoken_at: datetime
    heckle: str | None = None  # the audience's heckle it answered


class NewDuel(BaseModel):
    """Everything known when a duel begins."""

    id: str
    flow: str
    flow_snapshot: str
    cast: dict
    topic: str
    turns: int | None = None
    seed: int
    settings: dict
    source_id: str | None = None


class DuelSummary(BaseModel):
    """One row of the history list."""

    id: str
    created_at: datetime
    ended_at: datetime | None
    status: Status
    error: str | None
    flow: str
    topic: str
    cast: dict
    line_count: int
    audio_seconds: float
    audio_bytes: int
    source_id: str | None
    votes_first: int = 0  # the audience's votes when it ended
    votes_second: int = 0


class DuelDetail(DuelSummary):
    """A duel with its settings, the flow file it ran, and its lines."""

    flow_snapshot: str
    turns: int | None
    seed: int
    settings: dict
    lines: list[StoredLine]


class DuelPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DuelSummary]
