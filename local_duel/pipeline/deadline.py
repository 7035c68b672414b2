"""A deadline on every line: an engine that hangs (stopped, swapping, wedged) ends the
duel with an error that says so, instead of leaving the audience in silence."""

import asyncio

from pipecat.frames.frames import Frame, LLMFullResponseEndFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from local_duel.pipeline.frames import CueFrame


class LineDeadline(FrameProcessor):
    """Sits after the LLM: armed by each line's cue, disarmed by the end of its answer.

    The error it raises is not marked fatal: a fatal one makes Pipecat cancel the duel at
    once, before the duel's own error handler has told the audience why.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self._seconds = seconds
        self._timer: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, CueFrame):
            await self._disarm()
            self._timer = self.create_task(self._expire(frame.line.speaker, frame.line.turn))
        elif isinstance(frame, LLMFullResponseEndFrame):
            await self._disarm()
        await self.push_frame(frame, direction)

    async def _expire(self, speaker: str, turn: int):
        await asyncio.sleep(self._seconds)
        self._timer = None
        await self.push_error(f"no line for {speaker} (turn {turn}) within {self._seconds:g} s")

    async def _disarm(self):
        if self._timer:
            await self.cancel_task(self._timer)
            self._timer = None

    async def cleanup(self):
        await self._disarm()
        await super().cleanup()
