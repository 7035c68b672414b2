"""A listen-only duel client on the page's wire format (RTVI over Pipecat's protobuf
serializer), recording what arrives and when. The tests and the benchmark use it to
hear a duel the way the browser does.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import websockets
from pipecat.frames.frames import InputAudioRawFrame, InputTransportMessageFrame, OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from local_duel.pipeline.events import DuelEvent

CLIENT_READY = {"label": "rtvi-ai", "type": "client-ready", "id": "listener", "data": {"version": "1.0.0", "about": {"library": "local-duel-listener"}}}
UNDERRUN = 0.02  # starvation shorter than this is delivery jitter, not a gap you hear


@dataclass
class Chunk:
    at: float  # arrival, seconds since `POST /api/start`
    seconds: float
    zero: bool  # all-zero samples: the deliberate pause between speakers
    line: int  # how many lines had started when it arrived
    sound: bytes = field(default=b"", repr=False)  # the PCM itself


@dataclass
class Heard:
    """What a listener received, timed, and how it would play.

    The server sends audio ahead of real time, so a player queues it: each chunk plays
    when it has arrived and the one before it has finished. Wherever the queue runs dry
    there is silence nobody meant: at a change of speaker that is dead air, inside a
    line it is an underrun.
    """

    duel_id: str = ""
    epoch: float = 0.0  # wall clock at `POST /api/start`, to place the server's marks
    events: list[tuple[float, dict]] = field(default_factory=list)
    rtvi: list[tuple[float, dict]] = field(default_factory=list)
    audio: list[Chunk] = field(default_factory=list)

    def named(self, name: str) -> list[dict]:
        return [data for _, data in self.events if data["event"] == name]

    @property
    def sound(self) -> bytes:
        """Every audio byte received, in order: what two listeners compare."""
        return b"".join(chunk.sound for chunk in self.audio)

    @property
    def first_audio(self) -> float | None:
        return next((c.at for c in self.audio if not c.zero), None)

    def playout(self) -> list[tuple[float, float, float]]:
        """(start, end, starved before it) of each chunk, played back to back."""
        played, end = [], 0.0
        for chunk in self.audio:
            start = max(chunk.at, end)
            played.append((start, start + chunk.seconds, max(0.0, chunk.at - end) if played else 0.0))
            end = start + chunk.seconds
        return played

    def line_spans(self) -> list[tuple[float, float]]:
        """(first sound, end of last sound) of each line, as played."""
        spans: dict[int, list[float]] = {}
        for chunk, (start, end, _) in zip(self.audio, self.playout()):
            if not chunk.zero and chunk.line > 0:
                span = spans.setdefault(chunk.line, [start, end])
                span[1] = end
        return [tuple(spans[k]) for k in sorted(spans)]

    def marks(self) -> list[dict[str, float]]:
        """The server's marks for each line (llm_start, llm_end, tts_start, tts_end), on
        this listener's clock: seconds since `POST /api/start`."""
        return [
            {k: v - self.epoch for k, v in e.items() if k in ("llm_start", "llm_end", "tts_start", "tts_end")}
            for e in self.named(DuelEvent.LINE_ENDED)
        ]

    def gaps(self) -> list[float]:
        """Silence between consecutive lines as played, pause included, in seconds."""
        spans = self.line_spans()
        return [b[0] - a[1] for a, b in zip(spans, spans[1:])]

    def starvations(self) -> list[tuple[Chunk, float, bool]]:
        """Per chunk: how long the player ran dry before it, and whether it opens a line
        (a pause chunk, or a line's first sound) rather than continuing one."""
        found, sounding = [], set()
        for chunk, (_, _, starved) in zip(self.audio, self.playout()):
            found.append((chunk, starved, chunk.zero or chunk.line not in sounding))
            if not chunk.zero:
                sounding.add(chunk.line)
        return found

    def dead_air(self) -> list[float]:
        """Per change of speaker, how long the player ran dry: silence beyond the pause."""
        per_line: dict[int, float] = {}
        for chunk, starved, opening in self.starvations():
            # a pause chunk belongs to the change into the next line
            change = chunk.line + 1 if chunk.zero else chunk.line
            if opening and chunk.line >= 1 and change >= 2:
                per_line[change] = per_line.get(change, 0.0) + starved
        return [per_line.get(k, 0.0) for k in range(2, len(self.line_spans()) + 1)]

    def underruns(self) -> list[float]:
        """Starvations inside lines longer than delivery jitter."""
        return [starved for _, starved, opening in self.starvations() if not opening and starved > UNDERRUN]


class Refused(RuntimeError):
    """`POST /api/start` did not hand out a duel."""

    def __init__(self, status: int, text: str):
        super().__init__(f"POST /api/start answered {status}: {text}")
        self.status = status


async def listen(
    base_url: str,
    duel: dict,
    *,
    hang_up_after_audio: float | None = None,
    timeout: float = 600,
    on_event: Callable[[Heard], bool | None] | None = None,
) -> Heard:
    """Start a duel through `POST /api/start`, then listen until it ends (or hang up early).
    `on_event` sees what was heard so far after each duel event; True from it hangs up."""
    serializer = ProtobufFrameSerializer()
    heard = Heard(epoch=time.time())
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/start", json=duel) as response:
            if response.status != 200:
                raise Refused(response.status, await response.text())
            ticket = await response.json()
    heard.duel_id = ticket["duel_id"]
    async with websockets.connect(ticket["wsUrl"], max_size=None) as socket:
        await socket.send(await serializer.serialize(OutputTransportMessageFrame(message=CLIENT_READY)))
        return await hear(socket, heard, started, hang_up_after_audio=hang_up_after_audio, timeout=timeout, on_event=on_event)


def client_message(action: str, data: dict | None = None) -> OutputTransportMessageFrame:
    """An RTVI client message, as the page sends a heckle, a vote or a host control."""
    return OutputTransportMessageFrame(message={"label": "rtvi-ai", "type": "client-message", "id": action, "data": {"t": action, "d": data or {}}})


async def hear(
    socket,
    heard: Heard,
    started: float,
    *,
    hang_up_after_audio: float | None = None,
    timeout: float = 600,
    on_event: Callable[[Heard], bool | None] | None = None,
) -> Heard:
    """Record what arrives on an open duel socket until the duel ends (or `on_event` or
    `hang_up_after_audio` says to stop); times are seconds since `started` (monotonic)."""
    serializer = ProtobufFrameSerializer()
    lines, sound = max((c.line for c in heard.audio), default=0), 0.0  # lines started (so far, on a second call) and seconds of sound
    lines = max(lines, len(heard.named(DuelEvent.LINE_STARTED)))
    async with asyncio.timeout(timeout):
        async for raw in socket:
            now = time.monotonic() - started
            frame = await serializer.deserialize(raw)
            if isinstance(frame, InputAudioRawFrame):
                samples = np.frombuffer(frame.audio, dtype=np.int16)
                chunk = Chunk(now, samples.size / frame.sample_rate, not samples.any(), lines, frame.audio)
                heard.audio.append(chunk)
                sound += 0.0 if chunk.zero else chunk.seconds
                if hang_up_after_audio is not None and sound >= hang_up_after_audio:
                    return heard
            elif isinstance(frame, InputTransportMessageFrame):
                message = frame.message
                if message.get("type") == "server-message" and isinstance(message.get("data"), dict) and "event" in message["data"]:
                    data = message["data"]
                    heard.events.append((now, data))
                    lines += data["event"] == DuelEvent.LINE_STARTED
                    if data["event"] == DuelEvent.DUEL_STATE:  # a late joiner counts the lines before it
                        lines = data["speaking"]["turn"] if data["speaking"] else len(data["transcript"])
                    if on_event and on_event(heard):
                        return heard
                    if data["event"] == DuelEvent.DUEL_ENDED or (data["event"] == DuelEvent.ERROR and data.get("fatal")):
                        return heard
                else:
                    heard.rtvi.append((now, message))
    return heard
