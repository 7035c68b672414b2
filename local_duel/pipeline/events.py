"""The duel's wire events: every RTVI server message a duel sends, by name, in one list.

The page, the listener and the tests read these names off the wire, so a name is never
typed twice in the server: whatever emits an event takes it from `DuelEvent`.
"""

from enum import StrEnum

from pipecat.frames.frames import OutputTransportMessageFrame, OutputTransportMessageUrgentFrame
from pipecat.processors.frameworks.rtvi.models import ServerMessage


class DuelEvent(StrEnum):
    """An event's name, as `data.event` of an RTVI `server-message`."""

    # the duel itself, in step with its audio (announcer.py, duel.py, turn.py)
    DUEL_STARTED = "duel-started"
    PHASE_CHANGED = "phase-changed"
    LINE_STARTED = "line-started"
    LINE_TEXT = "line-text"
    LINE_ENDED = "line-ended"
    DUEL_ENDED = "duel-ended"
    ERROR = "error"
    # the room watching it (server/live.py)
    DUEL_STATE = "duel-state"
    AUDIENCE = "audience"
    HECKLE = "heckle"
    VOTES = "votes"
    CONTROL = "control"
    REFUSED = "refused"


def _message(name: DuelEvent, data: dict) -> dict:
    return ServerMessage(data={"event": DuelEvent(name).value, **data}).model_dump()


def event(name: DuelEvent, **data) -> OutputTransportMessageFrame:
    """An event the output sends once the audio queued before it has played."""
    return OutputTransportMessageFrame(message=_message(name, data))


def urgent_event(name: DuelEvent, **data) -> OutputTransportMessageUrgentFrame:
    """An event the output sends at once, ahead of any queued audio."""
    return OutputTransportMessageUrgentFrame(message=_message(name, data))
