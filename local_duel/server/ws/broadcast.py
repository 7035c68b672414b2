"""The duel's one output, fanned out: audio paced in real time, each frame serialized once.

It plays the part a WebSocket output transport plays for a single listener (the same
real-time pacing, so lookahead and the events' timing work unchanged), but writes to
the whole audience instead of one socket. Pausing holds the audio here, and with it
everything behind it: the events, and the next line, which waits for this one to play.
"""

import asyncio
import time
from collections.abc import Callable

from pipecat.frames.frames import (
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from local_duel.pipeline.events import DuelEvent
from local_duel.server.ws.viewers import Audience


class Broadcast(BaseOutputTransport):
    """Writes the duel to every viewer. `verdict` is added to `duel-ended` as it goes out,
    so votes cast while the last line plays still count."""

    def __init__(self, audience: Audience, sample_rate: int, verdict: Callable[[], dict]):
        super().__init__(TransportParams(audio_out_enabled=True, audio_out_sample_rate=sample_rate))
        self._audience = audience
        self._verdict = verdict
        self._serializer = ProtobufFrameSerializer()
        self._playing = asyncio.Event()
        self._playing.set()
        self._send_interval = 0.0
        self._next_send_time = 0.0

    @property
    def paused(self) -> bool:
        return not self._playing.is_set()

    def pause(self) -> None:
        self._playing.clear()

    def resume(self) -> None:
        self._next_send_time = 0.0  # the clock restarts: no burst to catch up the pause
        self._playing.set()

    async def setup(self, setup: FrameProcessorSetup):
        await super().setup(setup)
        self._send_interval = (self.audio_chunk_size / self.sample_rate) / 2  # bytes of 16-bit mono → seconds
        await self._serializer.setup(setup)

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def send_message(self, frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
        message = frame.message
        data = message.get("data") if isinstance(message, dict) else None
        if isinstance(data, dict) and data.get("event") == DuelEvent.DUEL_ENDED:
            data.update(self._verdict())
        if isinstance(message, dict):
            self._audience.observe(message)
        self._audience.fan_out(await self._serializer.serialize(frame))

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        await self._playing.wait()
        frame = OutputAudioRawFrame(audio=frame.audio, sample_rate=self.sample_rate, num_channels=1)
        self._audience.fan_out(await self._serializer.serialize(frame), len(frame.audio) / (2 * self.sample_rate))
        await self._pace()
        return True

    async def _pace(self):
        """Sleep like a sound card playing the chunk (as Pipecat's WebSocket output does)."""
        now = time.monotonic()
        wait = max(0.0, self._next_send_time - now)
        await asyncio.sleep(wait)
        self._next_send_time = time.monotonic() + self._send_interval if wait == 0 else self._next_send_time + self._send_interval
