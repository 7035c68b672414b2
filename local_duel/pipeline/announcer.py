"""The duel's events for the audience, as RTVI server messages in step with the audio.

They travel as ordinary (non-urgent) transport messages, so the output transport sends
each one only when the audio queued before it has played: a line's text arrives as its
audio starts, a phase change just before the phase's first line, and `line-ended` as
the line's last sound has played.
"""

from pipecat.frames.frames import Frame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from local_duel.pipeline.events import DuelEvent, event
from local_duel.pipeline.frames import LineFrame
from local_duel.show.cast import Cast


class Announcer(FrameProcessor):
    """Puts a beat of silence, `phase-changed`, `line-started` and `line-text` in front
    of each line. The beat is the pause between speakers, made on purpose rather than
    left to however long the next line took to compute."""

    def __init__(self, cast: Cast, pause: float, sample_rate: int):
        super().__init__()
        self._sides = {cast.first.name: "first", cast.second.name: "second"}
        self._pause = pause
        self._sample_rate = sample_rate
        self._phase: str | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LineFrame):
            line = frame.line
            if self._phase is not None and self._pause > 0:
                silence = bytes(2 * int(self._pause * self._sample_rate))
                await self.push_frame(OutputAudioRawFrame(silence, self._sample_rate, 1))
            if self._phase is not None and line.phase != self._phase:
                await self.push_frame(event(DuelEvent.PHASE_CHANGED, phase=line.phase, previous=self._phase, turn=line.turn))
            self._phase = line.phase
            who = {"speaker": line.speaker, "side": self._sides[line.speaker], "phase": line.phase, "turn": line.turn}
            answers = {"heckle": line.heckle} if line.heckle else {}
            await self.push_frame(event(DuelEvent.LINE_STARTED, **who, **answers))
            await self.push_frame(event(DuelEvent.LINE_TEXT, **who, text=line.text))
        await self.push_frame(frame, direction)


class LineEnder(FrameProcessor):
    """After the voice: `line-ended` once the line's audio has gone by, with its token
    count and timing marks (the voice's among them), just ahead of the `LineFrame` that
    the voice sends on after the line's last sound."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LineFrame):
            line = frame.line
            await self.push_frame(event(DuelEvent.LINE_ENDED, speaker=line.speaker, turn=line.turn, tokens=line.tokens, drafts=line.drafts, **line.marks))
        await self.push_frame(frame, direction)
