"""Lookahead: the next line is written and voiced while the current one still plays.

Pipecat Flows runs a node's `take_turn` post-action when its frame reaches the end of
the pipeline, and the output transport lets frames through only as their audio plays:
left alone, line k+1 is only started once line k has been heard, and every turn opens
with the LLM's and Piper's time as dead air. This processor sits just before the output
and takes the turn as soon as line k has been voiced, but never more than one line
ahead of what is playing. The action frame still travels on, with its work done, so
Flows' own bookkeeping sees it arrive. It also tells the `Pace` whether each line's first
sound came before the line ahead of it had played, and what each line took to sound.
"""

import asyncio
from collections.abc import Callable

from pipecat.flows import FlowManager
from pipecat.flows.actions import FunctionActionFrame
from pipecat.frames.frames import BotStoppedSpeakingFrame, Frame, OutputAudioRawFrame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from local_duel.pipeline.frames import LineFrame
from local_duel.pipeline.pace import Pace


async def _done(action: dict, flow_manager: FlowManager) -> None:
    """Stands in for a turn already taken, when its frame reaches the end."""


class Lookahead(FrameProcessor):
    """Takes each turn once its line is voiced and the line before it has played."""

    def __init__(self, pace: Pace | None = None, *, flow_manager: Callable[[], FlowManager]):
        """`flow_manager` gives the duel's FlowManager, which is built after the pipeline
        this processor is in."""
        super().__init__()
        self._flow_manager = flow_manager
        self._pace = pace
        self._voiced = 0  # lines whose audio has gone to the output
        self._played = 0  # lines the output has finished playing
        self._held: FunctionActionFrame | None = None
        self._asked: float | None = None  # when the turn being written was taken
        self._sounded: float | None = None  # when that turn's line first sounded
        self.playing: float | None = None  # seconds of the newest voiced line: the next is written behind it

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        now = asyncio.get_running_loop().time()
        if isinstance(frame, TTSStoppedFrame) and direction == FrameDirection.DOWNSTREAM:
            self._voiced += 1
        elif isinstance(frame, TTSAudioRawFrame) and self._asked is not None and self._sounded is None:
            self._sounded = now
        elif isinstance(frame, LineFrame):
            line, behind, self.playing = frame.line, self.playing, frame.line.audio_seconds
            # what a draft costs, from lines written behind another at the first try: not the
            # opening, nor a line whose time went on attempts refused
            if self._pace and behind is not None and line.attempts == 1 and line.time_to_first_audio is not None:
                self._pace.took(line.time_to_first_audio, line.drafts)
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            if self._pace and self._asked is not None:  # the line ahead has played: was the next one ready?
                ready = self._sounded is not None
                self._pace.heard(now - self._sounded if ready else None, (self._sounded or now) - self._asked)
                self._asked = None
            self._played += 1
            await self._release()
        elif isinstance(frame, FunctionActionFrame):
            self._held = frame
            await self._release()
            return
        await self.push_frame(frame, direction)

    async def _release(self):
        """Take the held turn if at most the newest voiced line is still to be heard."""
        if self._held is None or self._voiced - self._played > 1:
            return
        frame, self._held = self._held, None
        self._asked, self._sounded = asyncio.get_running_loop().time(), None
        function, frame.function = frame.function, _done
        await function(frame.action, self._flow_manager())
        await self.push_frame(frame)


class Playout(FrameProcessor):
    """The sequential baseline, last in the pipeline: a turn waits until the listener
    has heard the line before it.

    The transport sends audio faster than real time and lets frames through as it
    sends them, so this keeps the listener's clock: each audio frame plays once it is
    sent and the frame before it has played.
    """

    def __init__(self):
        super().__init__()
        self._heard_until = 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        now = asyncio.get_running_loop().time()
        if isinstance(frame, OutputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            seconds = len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)
            self._heard_until = max(self._heard_until, now) + seconds
        elif isinstance(frame, FunctionActionFrame):
            await asyncio.sleep(max(0.0, self._heard_until - now))
        await self.push_frame(frame, direction)
