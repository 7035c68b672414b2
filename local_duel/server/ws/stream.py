"""`/ws`: the duel's WebSocket, RTVI over Pipecat's protobuf serializer, for the host and
every viewer.

The host's one-time token starts the duel (`LiveDuel`, one pipeline); a watch token joins
it. Every socket says `client-ready` and gets `bot-ready`, then the duel's state and
stream; what it sends after that are RTVI client messages `{t, d}`: heckle, vote, and
for the host skip, pause, resume and end.
"""

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from loguru import logger
from pipecat.frames.frames import Frame, InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from pipecat.processors.frameworks.rtvi.models import PROTOCOL_VERSION
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from starlette.websockets import WebSocketState

from local_duel.pipeline.events import DuelEvent, urgent_event
from local_duel.server.admission import LEASE_SECONDS, stage_size
from local_duel.server.deps import Services, Svc
from local_duel.server.ws.live import LiveDuel
from local_duel.server.ws.relay import RemoteDuel
from local_duel.server.ws.viewers import Viewer
from local_duel.show.flow import FlowFileError

router = APIRouter()


class ForgivingSerializer(ProtobufFrameSerializer):
    """Pipecat's protobuf serializer, except that a message it can't decode is answered
    with an `error` event naming the problem and then ignored: the duel goes on."""

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            return await super().deserialize(data)
        except Exception as e:
            logger.warning(f"ignored a malformed WebSocket message: {e}")
            what = "text" if isinstance(data, str) else f"{len(data)} bytes"
            return urgent_event(
                DuelEvent.ERROR, message=f"Ignored a malformed message ({what}): {e}; send RTVI frames in Pipecat's protobuf format.", fatal=False
            )


def _rtvi(kind: str, message_id: object, **data) -> OutputTransportMessageUrgentFrame:
    return OutputTransportMessageUrgentFrame(
        message={"label": "rtvi-ai", "type": kind, "id": str(message_id or ""), "data": data}
    )


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Accept, then close saying why: a browser sees the reason of a close, but nothing of
    a handshake refused with a bare 403."""
    await websocket.accept()
    await websocket.close(code=1008, reason=reason.encode()[:123].decode(errors="ignore"))  # 123 bytes at most


async def _run(live: LiveDuel, services: Services) -> None:
    """Run a duel from its host's socket to its end, on the stage while it runs."""
    services.duels[live.id] = live
    try:
        await live.run()
    finally:
        del services.duels[live.id]
        await services.admission.close(live.id, live.watch)
        await services.engine.leave(live.llm_url, live.id)


@router.websocket("/ws")
async def duel_socket(websocket: WebSocket, services: Svc, token: str = ""):
    """The host's token (once) starts the duel, at any replica; a watch token joins it
    while it runs."""
    where = await services.admission.find(token)
    live: LiveDuel | RemoteDuel | None = services.duels.get(where.duel_id) if where else None
    host = False
    if where and live is None:
        if where.replica is None:
            await refuse(websocket, "the duel has not started yet; open the watch link again in a moment")
            return
        if not services.relay:
            await refuse(websocket, f"this duel runs on another replica ({where.replica}); connect there to watch it")
            return
        live = RemoteDuel(services.relay, where.duel_id, services.settings.viewer_backlog_seconds,
                          on_gone=lambda: services.store.interrupt(where.duel_id))
    if live is None:
        ticket = await services.tickets.redeem(token)
        if ticket is None:
            await refuse(websocket, "invalid or expired token; POST /api/start for a new one")
            return
        request = ticket.request
        try:  # checked at /api/start, but an upload may have replaced it since
            flow = services.catalog.get(request.flow)
        except (KeyError, FlowFileError) as e:
            await services.admission.close(ticket.duel_id, ticket.watch)
            await services.engine.leave(ticket.llm_url, ticket.duel_id)
            await refuse(websocket, f"flow '{request.flow}' is gone or broken: {e}")
            return
        limit, full = await stage_size(services.settings, services.pace, services.engine)
        llm_url = await services.engine.seat(ticket.duel_id, LEASE_SECONDS, prefer=ticket.llm_url)  # the seat it held
        if not (llm_url and await services.admission.open(ticket.duel_id, ticket.watch, limit)):  # its hold lapsed, and others came
            await services.admission.close(ticket.duel_id, ticket.watch)
            await services.engine.leave(llm_url or ticket.llm_url, ticket.duel_id)
            await refuse(websocket, f"the stage filled up while this ticket waited ({full}); POST /api/start again")
            return
        ticket.llm_url = llm_url
        live, host = LiveDuel(ticket, flow, services), True
        logger.info(f"duel {live.id} starts: {request.flow}, {request.cast.names}, {request.topic!r}")
        task = asyncio.get_running_loop().create_task(_run(live, services))
        services.running.add(task)
        task.add_done_callback(services.running.discard)
    elif isinstance(live, LiveDuel) and len(live.audience.viewers) >= services.settings.max_viewers:
        await refuse(websocket, f"this duel has {services.settings.max_viewers} viewers, as many as it takes (LOCAL_DUEL_MAX_VIEWERS)")
        return
    await websocket.accept()
    viewer = live.viewer(websocket, host)
    try:
        await _listen(websocket, live, viewer)
    finally:
        await live.leave(viewer)


async def _listen(websocket: WebSocket, live: LiveDuel, viewer: Viewer) -> None:
    """Read what the client sends until it goes: RTVI messages, malformed ones answered."""
    serializer = ForgivingSerializer()
    while True:
        try:
            received = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if received["type"] == "websocket.disconnect" or websocket.application_state == WebSocketState.DISCONNECTED:
            return
        raw = received.get("bytes")
        frame = await serializer.deserialize(raw if raw is not None else received.get("text", ""))
        if isinstance(frame, OutputTransportMessageUrgentFrame):  # what was wrong with the message
            viewer.offer(await serializer.serialize(frame))
        elif isinstance(frame, InputTransportMessageFrame):
            await _answer(live, viewer, frame.message, serializer)


async def _answer(live: LiveDuel, viewer: Viewer, message: object, serializer: ProtobufFrameSerializer) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    message_id = message.get("id") if isinstance(message, dict) else None
    if kind == "client-ready":
        about = {"library": "local-duel", "viewer": viewer.name, "host": viewer.host}
        viewer.offer(await serializer.serialize(_rtvi("bot-ready", message_id, version=PROTOCOL_VERSION, about=about)))
        await live.admit(viewer)
    elif kind == "client-message":
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        await live.act(viewer, data.get("t"), data.get("d"))
    elif kind != "disconnect-bot":  # hanging up is done by closing the socket
        error = f"Unsupported RTVI message type {kind!r}: this server takes client-ready and client-message"
        viewer.offer(await serializer.serialize(_rtvi("error-response", message_id, error=error)))
