"""REST routes: flows, voices, defaults, health, and starting a duel."""

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile

from local_duel.core.weights import FETCH_COMMAND
from local_duel.engine import Engine, EngineError, ModelChoiceError, ModelInfo
from local_duel.pipeline.voice import UnknownVoiceError, Voices
from local_duel.server.admission import HOLD_SECONDS, stage_size
from local_duel.server.catalog import FlowCatalog, UploadsFull, mermaid
from local_duel.server.errors import SafeJSONResponse
from local_duel.server.guard import from_the_page
from local_duel.server.limits import RateLimited, StartRate
from local_duel.server.schemas import (
    CHANGES,
    Defaults,
    DuelRequest,
    FlowDetail,
    FlowSummary,
    Health,
    HealthState,
    PhaseInfo,
    StartResponse,
    answers,
)
from local_duel.server.tickets import Ticket, Tickets
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast
from local_duel.show.flow import DEFAULT_FLOW, DuelFlow, FlowFileError

router = APIRouter(prefix="/api", responses=answers())
NOT_READY = "the engine is warming up or could not start"


def catalog(request: Request) -> FlowCatalog:
    return request.app.state.catalog


def voices(request: Request) -> Voices:
    return request.app.state.voices


def tickets(request: Request) -> Tickets:
    return request.app.state.tickets


def _warm_up(state) -> tuple[HealthState, str] | None:
    """Why the engine is not there for duels yet, as the warm-up left it; None once it is."""
    if state.warmup_error:
        return "failed", f"the engine could not start: {state.warmup_error}"
    if not state.ready:
        return "warming", "the engine is warming up; try again in a few seconds"
    return None


def engine(request: Request) -> Engine:
    """The engine, once it is warm; 503 saying why not before that."""
    if not_ready := _warm_up(request.app.state):
        raise HTTPException(503, not_ready[1])
    return request.app.state.engine


ReadyEngine = Annotated[Engine, Depends(engine)]


Catalog = Annotated[FlowCatalog, Depends(catalog)]


def _summary(flow: DuelFlow, uploaded: bool) -> FlowSummary:
    return FlowSummary(name=flow.name, phases=[PhaseInfo(**p.__dict__) for p in flow.phases], uploaded=uploaded)


@router.get("/flows")
def list_flows(catalog: Catalog) -> list[FlowSummary]:
    """Every flow a duel can use; a broken file in flows/ is left out, not fatal."""
    summaries = []
    for name, uploaded in catalog.names().items():
        try:
            summaries.append(_summary(catalog.get(name), uploaded))
        except FlowFileError:
            continue
    return summaries


@router.get("/flows/{name}", responses=answers(**{"404": "no flow of that name", "422": "the flow is broken"}))
def get_flow(name: str, catalog: Catalog) -> FlowDetail:
    try:
        flow = catalog.get(name)
    except KeyError:
        raise HTTPException(404, f"no flow named '{name}'")
    except FlowFileError as e:
        raise HTTPException(422, str(e))
    summary = _summary(flow, catalog.names()[name])
    return FlowDetail(**summary.model_dump(), mermaid=mermaid(flow), config=flow.config.model_dump(exclude_defaults=True))


@router.post(
    "/flows",
    status_code=201,
    dependencies=[Depends(from_the_page)],
    responses=answers(**{
        **CHANGES,
        "403": "another website's request, or no `X-Local-Duel` header",
        "413": "the file or the request is too large",
        "415": "not a .yaml, .yml or .json file",
        "422": "the flow is broken, or not UTF-8",
        "507": "the server keeps no more uploads, or could not write this one",
    }),
)
async def upload_flow(file: UploadFile, request: Request, catalog: Catalog) -> FlowSummary:
    """Upload a FlowConfig as YAML or JSON; it is checked like the files in flows/."""
    filename = file.filename or ""
    name, _, suffix = filename.rpartition(".")
    if suffix not in ("yaml", "yml", "json"):
        raise HTTPException(415, f"'{filename}': upload a .yaml, .yml or .json flow file")
    limit = request.app.state.settings.upload_max_file_bytes
    raw = await file.read(limit + 1)
    if len(raw) > limit:
        raise HTTPException(413, f"'{filename}' is larger than {limit} bytes (LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES)")
    try:  # in a thread: parsing 64 KiB of YAML must not hold up the duels' audio
        flow = await asyncio.to_thread(catalog.upload, name, raw.decode("utf-8"), json_format=suffix == "json")
    except UnicodeDecodeError:
        raise HTTPException(422, f"{filename}: not UTF-8 text")
    except FlowFileError as e:
        raise HTTPException(422, str(e))
    except UploadsFull as e:
        raise HTTPException(507, str(e))
    except OSError as e:
        raise HTTPException(507, f"the flow is valid but could not be kept on the server: {e.strerror}")
    return _summary(flow, uploaded=True)


@router.get("/voices")
def list_voices(voices: Annotated[Voices, Depends(voices)]) -> list[str]:
    return voices.ids()


@router.get("/defaults")
def defaults() -> Defaults:
    return Defaults(cast=Cast.from_file(DEFAULT_CAST), topic=DEFAULT_TOPIC, flow=DEFAULT_FLOW)


async def _readiness(state) -> tuple[HealthState, str]:
    """Whether duels can start now, and why not."""
    if not_ready := _warm_up(state):
        return not_ready
    engine: Engine = state.engine
    if not (voices := state.voices.bases()):
        return "failed", f"no Piper voices in {state.voices.folder}; run `{FETCH_COMMAND}` and restart"
    if not await engine.healthy():  # an embedded engine that died is being restarted by its supervisor
        return "warming", f"the {engine.kind} engine at {engine.url} is not answering; try again in a few seconds"
    return "ready", f"ready: the {engine.kind} engine answers and {len(voices)} Piper voices are loaded"


@router.get(
    "/health",
    responses={**answers(), 503: {"model": Health, "description": "not ready: `state` says warming or failed, `message` why"}},
)
async def health(request: Request) -> Health:
    """Whether duels can start: the engine answers and the voices are loaded (200), or
    not yet, or not without a fix (503). It only asks: a dead embedded engine is brought
    back by its supervisor, not by this read."""
    state = request.app.state
    readiness, message = await _readiness(state)
    report = Health(
        state=readiness,
        message=message,
        engine=state.engine.kind,
        engine_url=state.engine.url,
        models_loaded=readiness == "ready",
        voices=state.voices.ids(),
        duels_running=len(state.duels),
        viewers=sum(len(live.audience.viewers) for live in state.duels.values()),
        max_duels=state.settings.max_duels,
        stage=(await stage_size(state.settings, state.pace, state.engine))[0],
        seats_booked=await state.stage.size(),
        tasks=len(asyncio.all_tasks()),
    )
    if readiness != "ready":
        return SafeJSONResponse(report.model_dump(), 503)
    return report


@router.get("/models", responses=answers(**{"503": NOT_READY}))
async def list_models(engine: ReadyEngine) -> list[ModelInfo]:
    """The LLM models an agent can use, each with how it is prompted (screenplay or chat)
    and, for the embedded engine's GGUF files, its size."""
    try:
        return await engine.models()
    except EngineError as e:
        raise HTTPException(503, str(e))


async def start_rate(request: Request) -> None:
    """429 with Retry-After once a client has started `starts_per_minute` duels in a minute."""
    rate: StartRate = request.app.state.start_rate
    try:
        await rate.admit(request.client.host if request.client else "unknown")
    except RateLimited as e:
        raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after)})


@router.post(
    "/start",
    dependencies=[Depends(start_rate)],
    responses=answers(**{
        **CHANGES,
        "422": "a setting is wrong; `loc` names it",
        "429": "the stage is full, or too many starts from this client in the last minute; see Retry-After",
        "503": NOT_READY,
    }),
)
async def start(
    body: DuelRequest,
    request: Request,
    catalog: Catalog,
    voices: Annotated[Voices, Depends(voices)],
    tickets: Annotated[Tickets, Depends(tickets)],
    engine: ReadyEngine,
) -> StartResponse:
    """Check the duel's settings and hand out a one-time WebSocket URL that runs it; 429
    when the stage is full, so a new duel never makes the running ones stall."""
    problems = []
    most = request.app.state.settings.max_turns_per_phase
    if body.turns is not None and body.turns > most:
        problems.append({"loc": ["body", "turns"], "msg": f"at most {most} lines per phase (LOCAL_DUEL_MAX_TURNS_PER_PHASE)", "type": "value_error"})
    try:
        catalog.get(body.flow)
    except KeyError:
        problems.append({"loc": ["body", "flow"], "msg": f"no flow named '{body.flow}'", "type": "value_error"})
    except FlowFileError as e:
        problems.append({"loc": ["body", "flow"], "msg": str(e), "type": "value_error"})
    for side, agent in (("first", body.cast.first), ("second", body.cast.second)):
        try:
            voices.get(agent.voice)
        except UnknownVoiceError as e:
            problems.append({"loc": ["body", "cast", side, "voice"], "msg": str(e), "type": "value_error"})
    if problems:
        raise HTTPException(422, problems)
    try:
        views = await engine.views(body.cast)
    except ModelChoiceError as e:
        raise HTTPException(422, [{"loc": ["body", "cast", e.side, "model"], "msg": str(e), "type": "value_error"}])
    except EngineError as e:
        raise HTTPException(503, str(e))
    if not await engine.healthy():  # its supervisor is bringing it back: a duel now would fail in its first line
        raise HTTPException(503, f"the {engine.kind} engine is not answering; try again in a few seconds")
    ticket = Ticket.new(body, views)
    state = request.app.state
    limit, full = await stage_size(state.settings, state.pace, engine)
    if await state.stage.book(ticket.duel_id, ticket.watch, limit):
        ticket.llm_url = await engine.seat(ticket.duel_id, HOLD_SECONDS)
        if not ticket.llm_url:  # another replica took the last seat meanwhile
            await state.stage.close(ticket.duel_id, ticket.watch)
    if not ticket.llm_url:
        raise HTTPException(
            429,
            f"the stage is full: {limit} duels are running or about to start, {full}; try again when one ends",
            headers={"Retry-After": str(state.stage.retry_after())},
        )
    token = await tickets.issue(ticket)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    settings = request.app.state.settings
    netloc = f"{settings.lan_address}:{settings.port}" if settings.lan_address else request.url.netloc  # what phones reach
    route = {"replica": settings.replica} if settings.replica else {}  # for the proxy in front of replicas
    return StartResponse(  # a watch link carries the duel's watch token, never the access code (server/lan.py)
        wsUrl=f"{scheme}://{request.url.netloc}/ws?{urlencode({'token': token, **route})}",
        duel_id=ticket.duel_id,
        watchUrl=f"{request.url.scheme}://{netloc}/?{urlencode({'watch': ticket.watch, **route})}",
        watchWsUrl=f"{scheme}://{netloc}/ws?{urlencode({'token': ticket.watch, **route})}",
    )
