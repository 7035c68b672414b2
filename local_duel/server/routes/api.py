"""REST routes: flows, voices, defaults, health, and starting a duel."""

import asyncio
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile

from local_duel.core.weights import FETCH_COMMAND
from local_duel.engine import EngineError, ModelChoiceError, ModelInfo
from local_duel.pipeline.voice import UnknownVoiceError
from local_duel.server.admission import HOLD_SECONDS, stage_size
from local_duel.server.catalog import UploadsFull, mermaid
from local_duel.server.deps import ReadyEngine, Services, Svc, unready
from local_duel.server.errors import SafeJSONResponse
from local_duel.server.guard import from_the_page
from local_duel.server.limits import RateLimited
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
from local_duel.server.tickets import Ticket
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast
from local_duel.show.flow import DEFAULT_FLOW, DuelFlow, FlowFileError

router = APIRouter(prefix="/api", responses=answers())
NOT_READY = "the engine is warming up or could not start"


def _summary(flow: DuelFlow, uploaded: bool) -> FlowSummary:
    return FlowSummary(name=flow.name, phases=[PhaseInfo(**p.__dict__) for p in flow.phases], uploaded=uploaded)


@router.get("/flows")
def list_flows(services: Svc) -> list[FlowSummary]:
    """Every flow a duel can use; a broken file in flows/ is left out, not fatal."""
    summaries = []
    catalog = services.catalog
    for name, uploaded in catalog.names().items():
        try:
            summaries.append(_summary(catalog.get(name), uploaded))
        except FlowFileError:
            continue
    return summaries


@router.get("/flows/{name}", responses=answers(**{"404": "no flow of that name", "422": "the flow is broken"}))
def get_flow(name: str, services: Svc) -> FlowDetail:
    catalog = services.catalog
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
async def upload_flow(file: UploadFile, services: Svc) -> FlowSummary:
    """Upload a FlowConfig as YAML or JSON; it is checked like the files in flows/."""
    filename = file.filename or ""
    name, _, suffix = filename.rpartition(".")
    if suffix not in ("yaml", "yml", "json"):
        raise HTTPException(415, f"'{filename}': upload a .yaml, .yml or .json flow file")
    limit = services.settings.upload_max_file_bytes
    raw = await file.read(limit + 1)
    if len(raw) > limit:
        raise HTTPException(413, f"'{filename}' is larger than {limit} bytes (LOCAL_DUEL_UPLOAD_MAX_FILE_BYTES)")
    try:  # in a thread: parsing 64 KiB of YAML must not hold up the duels' audio
        flow = await asyncio.to_thread(services.catalog.upload, name, raw.decode("utf-8"), json_format=suffix == "json")
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
def list_voices(services: Svc) -> list[str]:
    return services.voices.ids()


@router.get("/defaults")
def defaults() -> Defaults:
    return Defaults(cast=Cast.from_file(DEFAULT_CAST), topic=DEFAULT_TOPIC, flow=DEFAULT_FLOW)


async def _readiness(services: Services) -> tuple[HealthState, str]:
    """Whether duels can start now, and why not."""
    if not_ready := unready(services):
        return not_ready
    engine = services.engine
    if not (voices := services.voices.bases()):
        return "failed", f"no Piper voices in {services.voices.folder}; run `{FETCH_COMMAND}` and restart"
    if not await engine.healthy():  # an embedded engine that died is being restarted by its supervisor
        return "warming", f"the {engine.kind} engine at {engine.url} is not answering; try again in a few seconds"
    return "ready", f"ready: the {engine.kind} engine answers and {len(voices)} Piper voices are loaded"


@router.get(
    "/health",
    responses={**answers(), 503: {"model": Health, "description": "not ready: `state` says warming or failed, `message` why"}},
)
async def health(services: Svc) -> Health:
    """Whether duels can start: the engine answers and the voices are loaded (200), or
    not yet, or not without a fix (503). It only asks: a dead embedded engine is brought
    back by its supervisor, not by this read."""
    readiness, message = await _readiness(services)
    report = Health(
        state=readiness,
        message=message,
        engine=services.engine.kind,
        engine_url=services.engine.url,
        models_loaded=readiness == "ready",
        voices=services.voices.ids(),
        duels_running=len(services.duels),
        viewers=sum(len(live.audience.viewers) for live in services.duels.values()),
        max_duels=services.settings.max_duels,
        stage=(await stage_size(services.settings, services.pace, services.engine))[0],
        seats_booked=await services.admission.size(),
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


async def start_rate(request: Request, services: Svc) -> None:
    """429 with Retry-After once a client has started `starts_per_minute` duels in a minute."""
    try:
        await services.start_rate.admit(request.client.host if request.client else "unknown")
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
    services: Svc,
    engine: ReadyEngine,
) -> StartResponse:
    """Check the duel's settings and hand out a one-time WebSocket URL that runs it; 429
    when the stage is full, so a new duel never makes the running ones stall."""
    problems = []
    settings, catalog, voices = services.settings, services.catalog, services.voices
    most = settings.max_turns_per_phase
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
    limit, full = await stage_size(settings, services.pace, engine)
    if await services.admission.book(ticket.duel_id, ticket.watch, limit):
        ticket.llm_url = await engine.seat(ticket.duel_id, HOLD_SECONDS)
        if not ticket.llm_url:  # another replica took the last seat meanwhile
            await services.admission.close(ticket.duel_id, ticket.watch)
    if not ticket.llm_url:
        raise HTTPException(
            429,
            f"the stage is full: {limit} duels are running or about to start, {full}; try again when one ends",
            headers={"Retry-After": str(services.admission.retry_after())},
        )
    token = await services.tickets.issue(ticket)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    netloc = f"{settings.lan_address}:{settings.port}" if settings.lan_address else request.url.netloc  # what phones reach
    route = {"replica": settings.replica} if settings.replica else {}  # for the proxy in front of replicas
    return StartResponse(  # a watch link carries the duel's watch token, never the access code (server/lan.py)
        wsUrl=f"{scheme}://{request.url.netloc}/ws?{urlencode({'token': token, **route})}",
        duel_id=ticket.duel_id,
        watchUrl=f"{request.url.scheme}://{netloc}/?{urlencode({'watch': ticket.watch, **route})}",
        watchWsUrl=f"{scheme}://{netloc}/ws?{urlencode({'token': ticket.watch, **route})}",
    )
