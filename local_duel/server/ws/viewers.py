"""Everyone watching one duel: the sockets its one pipeline's output is fanned out to.

The duel's output serializes each frame once and offers the bytes to every viewer. Each
viewer has its own backlog and its own sender task, so a slow socket (a phone on bad
Wi-Fi) only ever delays itself: once its backlog holds more than `backlog_seconds` of
audio it is cut off, with the reason as the close reason, and nobody else's timing moves.
A viewer who joins late first gets the story so far (`duel-state`), then the stream from
wherever it is: the line being spoken, from the chunk playing now.
"""

import asyncio
import socket
from collections.abc import Callable

from fastapi import WebSocket
from loguru import logger
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from local_duel.pipeline.events import DuelEvent, urgent_event

FELL_BEHIND = 4008  # close code (application range): the viewer could not keep up
MAX_MESSAGES = 2000  # a backlog of events alone (no audio) is cut off here
CLOSE_SECONDS = 2.0  # a socket that won't take its close frame is left to the server's own timeout
# After the last event the client closes first. A browser decodes each message in a task
# of its own, so a close frame hard on `duel-ended` can overtake it: the page would call a
# finished duel cut off. A client that doesn't close is closed after this long.
LINGER_SECONDS = 2.0
# The kernel's send buffer per socket. Left to autotuning it grows to megabytes, a
# minute of audio a stalled phone could hide in; this much is under a second at 24 kHz,
# far more than a healthy LAN connection needs in flight. Accepted sockets inherit it
# from the listening socket (`listening_socket`).
SEND_BUFFER = 32 * 1024


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's listening socket, with `SEND_BUFFER` for every connection it accepts,
    so a viewer's stall shows in its own backlog rather than in the kernel's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Viewer:
    """One socket watching the duel, drained by its own task."""

    def __init__(self, websocket: WebSocket, name: str, host: bool, backlog_seconds: float, voter: str = ""):
        self.websocket = websocket
        self.name = name
        self.host = host
        self.voter = voter or name  # whose vote this socket casts: the same person across reconnects
        self.heard = False  # a line began while it was here: only then does its vote count
        self.cut_reason: str | None = None
        self._limit = backlog_seconds
        self._backlog = 0.0  # seconds of audio queued and not yet sent
        self._queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._sender = asyncio.get_running_loop().create_task(self._send())
        self._closing: asyncio.Task | None = None

    @property
    def gone(self) -> bool:
        return self._sender.done() or self.cut_reason is not None

    def offer(self, data: bytes, seconds: float = 0.0) -> bool:
        """Queue bytes for this socket; False once the viewer has been cut off."""
        if self.gone:
            return False
        if self._backlog + seconds > self._limit or self._queue.qsize() >= MAX_MESSAGES:
            self.cut_off(f"fell {self._backlog:.1f} s behind the duel; reload to catch up")
            return False
        self._backlog += seconds
        self._queue.put_nowait((data, seconds))
        return True

    def finish(self) -> None:
        """Send what is queued, then close: the duel is over."""
        self._queue.put_nowait(None)

    def cut_off(self, reason: str) -> None:
        logger.info(f"viewer {self.name} cut off: {reason}")
        self.cut_reason = reason
        self._sender.cancel()
        self._closing = asyncio.get_running_loop().create_task(self._close(FELL_BEHIND, reason))

    async def _send(self) -> None:
        try:
            while (item := await self._queue.get()) is not None:
                data, seconds = item
                await self.websocket.send_bytes(data)
                self._backlog -= seconds
        except Exception:  # the client went away; its handler notices and leaves
            return
        await asyncio.sleep(LINGER_SECONDS)  # cancelled by `stop` as the client closes
        await self._close(1000, "the duel is over")

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.websocket.close(code, reason.encode()[:123].decode(errors="ignore")), CLOSE_SECONDS)
        except Exception:  # gone already, or too stalled to take the close frame
            pass

    async def stop(self) -> None:
        """Stop sending, for a viewer who has left."""
        self._sender.cancel()
        for task in (self._sender, self._closing):
            if task:
                await asyncio.gather(task, return_exceptions=True)


class Audience:
    """The viewers of one duel and the story so far, kept from the events as they go out."""

    def __init__(self, backlog_seconds: float, on_cut_off: Callable[[Viewer], None]):
        self.viewers: dict[str, Viewer] = {}
        self.backlog_seconds = backlog_seconds
        self.story: dict = {"transcript": [], "heckles": [], "phase": None, "speaking": None, "paused": False}
        self._serializer = ProtobufFrameSerializer()
        self._on_cut_off = on_cut_off
        self.mirror = None  # a relay.Publisher: the same stream for viewers on other replicas

    async def encode(self, name: DuelEvent, **data) -> bytes:
        """An event as the bytes every viewer gets."""
        return await self._serializer.serialize(urgent_event(name, **data))

    def fan_out(self, data: bytes, seconds: float = 0.0) -> None:
        """Offer the bytes to every viewer; never waits on any of them."""
        if self.mirror:
            self.mirror.publish(data, seconds)
        for viewer in list(self.viewers.values()):
            if not viewer.offer(data, seconds):
                self.viewers.pop(viewer.name, None)
                self._on_cut_off(viewer)

    async def announce(self, name: DuelEvent, **data) -> None:
        """An event for every viewer, now (not in step with the audio)."""
        self.fan_out(await self.encode(name, **data))
        if self.mirror:
            self.mirror.keep_story()

    async def tell(self, viewer: Viewer, name: DuelEvent, **data) -> None:
        """An event for one viewer."""
        viewer.offer(await self.encode(name, **data))

    def join(self, viewer: Viewer, state: bytes) -> None:
        """The state first, then the stream: no await between the two, so nothing is missed
        or doubled."""
        viewer.offer(state)
        viewer.heard = self.story["speaking"] is not None or bool(self.story["transcript"])  # the story so far
        self.viewers[viewer.name] = viewer

    def observe(self, message: dict) -> None:
        """Keep what a late joiner needs from an event on its way out."""
        data = message.get("data") if message.get("type") == "server-message" else None
        if not isinstance(data, dict):
            return
        story, name = self.story, data.get("event")
        if name == DuelEvent.DUEL_STARTED:
            story.update({k: data[k] for k in ("flow", "phases", "cast", "topic")}, phase=data["phases"][0])
        elif name == DuelEvent.PHASE_CHANGED:
            story["phase"] = data["phase"]
        elif name == DuelEvent.LINE_STARTED:
            story["speaking"] = data
            for viewer in self.viewers.values():
                viewer.heard = True
        elif name == DuelEvent.LINE_TEXT:
            story["transcript"].append({k: data[k] for k in ("speaker", "side", "phase", "turn", "text")})
        elif name == DuelEvent.LINE_ENDED:
            story["speaking"] = None
        if self.mirror:
            self.mirror.keep_story()
