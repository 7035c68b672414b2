"""The duel's events for the audience, as RTVI server messages in step with the audio.

They travel as ordinary (non-urgent) transport messages, so the output transport sends
each one only when the audio queued before it has played: a line's text arrives as its
audio starts, and a phase change just before the phase's first line.
"""

from pipecat.frames.frames import (
    Frame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.processors.frameworks.rtvi.models import ServerMessage

from local_duel.cast import Cast
from local_duel.line import LineFrame


def _message(name: str, data: dict) -> dict:
    return ServerMessage(data={"event": name, **data}).model_dump()


def event(name: str, **data) -> OutputTransportMessageFrame:
    """An event the output sends once the audio queued before it has played."""
    return OutputTransportMessageFrame(message=_message(name, data))


def urgent_event(name: str, **data) -> OutputTransportMessageUrgentFrame:
    """An event the output sends at once, ahead of any queued audio."""
    return OutputTransportMessageUrgentFrame(message=_message(name, data))


class Announcer(FrameProcessor):
    """Puts a beat of silence, `phase-changed`, `line-started` and `line-text` in front
    of each line. The beat is the pause between speakers, made on purpose rather than
    left to however long the next line took to compute."""

    def __init__(self, cast: Cast, pause: float):
        super().__init__()
        self._sides = {cast.first.name: "first", cast.second.name: "second"}
        self._pause = pause
        self._sample_rate = 24000
        self._phase: str | None = None

    async def setup(self, setup: FrameProcessorSetup):
        await super().setup(setup)
        self._sample_rate = setup.audio_out_sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LineFrame):
            line = frame.line
            if self._phase is not None and self._pause > 0:
                silence = bytes(2 * int(self._pause * self._sample_rate))
                await self.push_frame(OutputAudioRawFrame(silence, self._sample_rate, 1))
            if self._phase is not None and line.phase != self._phase:
                await self.push_frame(event("phase-changed", phase=line.phase, previous=self._phase, turn=line.turn))
            self._phase = line.phase
            who = {"speaker": line.speaker, "side": self._sides[line.speaker], "phase": line.phase, "turn": line.turn}
            answers = {"heckle": line.heckle} if line.heckle else {}
            await self.push_frame(event("line-started", **who, **answers))
            await self.push_frame(event("line-text", **who, text=line.text))
        await self.push_frame(frame, direction)
