"""`/ws`: one duel per WebSocket, spoken as RTVI over Pipecat's protobuf serializer."""

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState
from loguru import logger
from pipecat.frames.frames import Frame
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from local_duel.announcer import urgent_event
from local_duel.duel import Duel
from local_duel.flow import FlowFileError
from local_duel.history.recorder import Recording, new_duel
from local_duel.settings import Settings

router = APIRouter()


def candidates_each(settings: Settings, duels: int) -> int:
    """Candidate lines per turn for each of `duels` duels: the engine's slots shared out,
    so a full stage writes one line per turn rather than queueing behind its own drafts."""
    return max(1, min(settings.candidates, settings.engine_slots // max(1, duels)))


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
                "error", message=f"Ignored a malformed message ({what}): {e}; send RTVI frames in Pipecat's protobuf format.", fatal=False
            )


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Accept, then close saying why: a browser sees the reason of a close, but nothing of
    a handshake refused with a bare 403."""
    await websocket.accept()
    await websocket.close(code=1008, reason=reason.encode()[:123].decode(errors="ignore"))  # 123 bytes at most


def tolerate_hang_ups(websocket: WebSocket) -> None:
    """Closing a socket the client has already closed is done, not an error.

    The page hangs up as soon as the last line has played, while the server closes the
    socket at the end of the duel; whichever goes second finds the other gone, and
    Pipecat logged each such ordinary ending as an ERROR.
    """
    close = websocket.close

    async def close_unless_gone(code: int = 1000, reason: str | None = None) -> None:
        if websocket.application_state == WebSocketState.DISCONNECTED:  # a send found the client gone
            return
        try:
            await close(code, reason)
        except WebSocketDisconnect:  # the client's close crossed ours
            pass

    websocket.close = close_unless_gone


@router.websocket("/ws")
async def duel_socket(websocket: WebSocket, token: str = ""):
    """Run the duel the token was issued for; refuse the socket without a valid token.

    The duel starts when the client says it is ready, and is cancelled if the client
    goes away or doesn't say it is ready in time, so nothing keeps running for nobody.
    """
    state = websocket.app.state
    ticket = state.tickets.redeem(token)
    if ticket is None:
        await refuse(websocket, "invalid or expired token; POST /api/start for a new one")
        return
    request = ticket.request
    try:  # checked at /api/start, but an upload may have replaced it since
        flow = state.catalog.get(request.flow)
    except (KeyError, FlowFileError) as e:
        await refuse(websocket, f"flow '{request.flow}' is gone or broken: {e}")
        return
    await websocket.accept()
    tolerate_hang_ups(websocket)
    settings = state.settings
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_out_enabled=True,
            audio_out_sample_rate=settings.sample_rate,
            add_wav_header=False,
            serializer=ForgivingSerializer(),
        ),
    )
    record = new_duel(ticket.duel_id, flow, request.cast, request.topic, request.turns, settings, ticket.views)
    recording = Recording(state.store, record, request.cast, state.owner)
    duel = Duel(
        flow,
        request.cast,
        request.topic,
        llm_url=state.engine.url,
        voices=state.voices,
        settings=settings,
        inputs=[transport.input()],
        output=[recording.recorder, transport.output()],
        turns_per_phase=request.turns,
        views=ticket.views,
        rating=request.rating,
        candidates=lambda: candidates_each(settings, len(state.duels)),
    )

    @duel.worker.rtvi.event_handler("on_client_ready")
    async def on_client_ready(rtvi):
        duel.begin()

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, socket):
        await duel.worker.cancel()

    async def await_client_ready(seconds: float):
        await asyncio.sleep(seconds)
        if not duel.begun:
            message = f"no RTVI client-ready within {seconds:g} s (LOCAL_DUEL_CLIENT_READY_SECONDS); the duel is off"
            logger.info(f"duel {ticket.duel_id}: {message}")
            await duel.worker.queue_frame(urgent_event("error", message=message, fatal=True))
            await duel.worker.cancel()

    state.duels[ticket.duel_id] = duel
    logger.info(f"duel {ticket.duel_id} starts: {request.flow}, {request.cast.names}, {request.topic!r}")
    deadline = asyncio.get_running_loop().create_task(await_client_ready(settings.client_ready_seconds))
    await recording.begin(rating=duel.rating)
    try:
        await duel.run()
    finally:
        deadline.cancel()
        del state.duels[ticket.duel_id]
        await recording.end(duel.error, settings)
        logger.info(f"duel {ticket.duel_id} ended after {len(duel.script.lines)} lines")
