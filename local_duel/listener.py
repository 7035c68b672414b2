"""A listen-only duel client on the page's wire format (RTVI over Pipecat's protobuf
serializer), recording what arrives and when. The tests and the benchmark use it to
hear a duel the way the browser does.
"""

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import websockets
from pipecat.frames.frames import InputAudioRawFrame, InputTransportMessageFrame, OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

CLIENT_READY = {"label": "rtvi-ai", "type": "client-ready", "id": "listener", "data": {"version": "1.0.0", "about": {"library": "local-duel-listener"}}}
SILENCE = 64  # peak sample value below which a chunk counts as silence


@dataclass
class Chunk:
    at: float  # seconds since `POST /api/start`
    seconds: float
    silent: bool


@dataclass
class Heard:
    """What a listener received: duel events, other RTVI messages and audio, timed."""

    duel_id: str = ""
    events: list[tuple[float, dict]] = field(default_factory=list)
    rtvi: list[tuple[float, dict]] = field(default_factory=list)
    audio: list[Chunk] = field(default_factory=list)

    def named(self, name: str) -> list[dict]:
        return [data for _, data in self.events if data["event"] == name]

    @property
    def first_audio(self) -> float | None:
        return next((c.at for c in self.audio if not c.silent), None)

    def line_spans(self) -> list[tuple[float, float]]:
        """(first sound, end of last sound) of each line, by arrival time."""
        starts = [at for at, data in self.events if data["event"] == "line-started"]
        ends = starts[1:] + [float("inf")]
        spans = []
        for start, end in zip(starts, ends):
            sound = [c for c in self.audio if start <= c.at < end and not c.silent]
            if sound:
                spans.append((sound[0].at, sound[-1].at + sound[-1].seconds))
        return spans

    def gaps(self) -> list[float]:
        """Silence between consecutive lines as received, in seconds."""
        spans = self.line_spans()
        return [max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:])]


async def listen(base_url: str, duel: dict, *, hang_up_after_audio: float | None = None, timeout: float = 600) -> Heard:
    """Start a duel through `POST /api/start`, then listen until it ends (or hang up early)."""
    serializer = ProtobufFrameSerializer()
    heard = Heard()
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/start", json=duel) as response:
            if response.status != 200:
                raise RuntimeError(f"POST /api/start answered {response.status}: {await response.text()}")
            ticket = await response.json()
    heard.duel_id = ticket["duel_id"]
    async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
        await socket.send(await serializer.serialize(OutputTransportMessageFrame(message=CLIENT_READY)))
        async with asyncio.timeout(timeout):
            async for raw in socket:
                now = time.monotonic() - started
                frame = await serializer.deserialize(raw)
                if isinstance(frame, InputAudioRawFrame):
                    samples = np.frombuffer(frame.audio, dtype=np.int16)
                    silent = not samples.size or int(np.abs(samples).max()) < SILENCE
                    heard.audio.append(Chunk(now, samples.size / frame.sample_rate, silent))
                    sound = sum(c.seconds for c in heard.audio if not c.silent)
                    if hang_up_after_audio is not None and sound >= hang_up_after_audio:
                        return heard
                elif isinstance(frame, InputTransportMessageFrame):
                    message = frame.message
                    if message.get("type") == "server-message" and isinstance(message.get("data"), dict) and "event" in message["data"]:
                        heard.events.append((now, message["data"]))
                        if message["data"]["event"] in ("duel-ended", "error"):
                            return heard
                    else:
                        heard.rtvi.append((now, message))
    return heard
