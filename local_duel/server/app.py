"""The FastAPI app: one engine and one set of voices, shared by every duel."""

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from loguru import logger
from starlette.middleware.trustedhost import TrustedHostMiddleware

from local_duel.core.paths import ROOT
from local_duel.core.settings import Settings
from local_duel.core.shared import shared_for
from local_duel.core.weights import voices_dir
from local_duel.engine import LlmPool, engine_for
from local_duel.history.leases import hold_leases, owner_id
from local_duel.history.revoice import Revoicing
from local_duel.history.store import DuelStore
from local_duel.pipeline.meaning import encoder
from local_duel.pipeline.nudge import lexicons_for
from local_duel.pipeline.pace import Pace
from local_duel.pipeline.voice import Voices
from local_duel.server.admission import Stage, hold_places
from local_duel.server.catalog import FlowCatalog
from local_duel.server.errors import HANDLERS, SafeJSONResponse
from local_duel.server.guard import PageHeaders, SameOrigin, allowed_hosts
from local_duel.server.lan import AccessCode
from local_duel.server.limits import ENVELOPE, BodyLimit, StartRate
from local_duel.server.routes import api, duels
from local_duel.server.tickets import Tickets
from local_duel.server.ws import stream
from local_duel.server.ws.relay import relay_client
from local_duel.show.rating import steer_for

PAGE = ROOT / "web" / "dist"


def page_url(settings: Settings) -> str:
    """Where the page is: on the LAN, with the access code."""
    if settings.access_code:
        return f"http://{settings.lan_address}:{settings.port}/?code={settings.access_code}"
    return f"http://{settings.host}:{settings.port}/"


def create_app(
    settings: Settings | None = None, page: Path = PAGE, announce: Callable[[str], None] = logger.info
) -> FastAPI:
    """The app; `announce` is told when the engine and voices are ready for duels."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The page is served at once; the engine and the voices load and warm meanwhile,
        # and /api/health says 503 (warming up, or why it failed) until they are ready.
        async def warm_up():
            try:
                await engine.start()
                await asyncio.gather(
                    engine.warm(),
                    asyncio.to_thread(app.state.voices.warm),
                    # The family rating's steering and the nudge's lexicon read the
                    # vocabulary once each (about half a second).
                    asyncio.to_thread(steer_for, [settings.llm_model], settings),
                    asyncio.to_thread(lexicons_for, [settings.llm_model], settings),
                    # The sentence encoder the ranker judges a line's phase with (mapped: milliseconds).
                    *([asyncio.to_thread(encoder, settings.models_dir)] if settings.meaning else []),
                )
            except Exception as e:
                app.state.warmup_error = str(e)
                logger.error(f"the engine could not start: {e}")
                return
            app.state.ready = True
            announce(f"Local Duel is ready: open {page_url(settings)}")

        app.state.store = await DuelStore.open(settings)
        app.state.revoicing = Revoicing(app.state.store, app.state.voices, app.state.owner)
        if interrupted := await app.state.store.recover(app.state.owner):
            logger.warning(f"duels cut off when this server last stopped, now interrupted: {interrupted}")
        leases = asyncio.get_running_loop().create_task(hold_leases(app.state.store, app.state.owner))
        places = asyncio.get_running_loop().create_task(hold_places(app.state.stage, engine, app.state.duels))
        warming = asyncio.get_running_loop().create_task(warm_up())
        try:
            yield
        finally:
            warming.cancel()
            leases.cancel()
            places.cancel()
            for stage in list(app.state.stages):  # duels still on: stopped, and kept as stopped
                stage.cancel()
            await asyncio.gather(*app.state.stages, return_exceptions=True)
            await app.state.revoicing.close()
            engine.stop()
            await app.state.store.close()
            await shared.close()
            if app.state.relay:
                await app.state.relay.aclose()

    app = FastAPI(
        title="Local Duel",
        summary="Two local AI agents duel out loud.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
        exception_handlers=HANDLERS,
    )
    # outermost first: the security headers, the Host, then the access code (LAN mode), the Origin, the body's size
    app.add_middleware(BodyLimit, max_bytes=settings.upload_max_file_bytes + ENVELOPE)
    app.add_middleware(SameOrigin)
    app.add_middleware(AccessCode, code=settings.access_code)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    app.add_middleware(PageHeaders)  # on every answer, refusals included
    app.state.settings = settings
    app.state.owner = owner_id(f"serve :{settings.port}")
    app.state.shared = shared = shared_for(settings.redis_url)
    app.state.engine = engine = engine_for(settings, shared)
    if isinstance(engine, LlmPool):
        async def llm_gone(url: str) -> None:
            for live in [live for live in app.state.duels.values() if live.llm_url == url]:
                await live.fail("llm-server-gone", f"the LLM server at {url} stopped answering; this duel is over")

        engine.on_gone = llm_gone
    app.state.ready = False
    app.state.warmup_error = None
    app.state.voices = Voices(voices_dir(settings.models_dir), settings.voice_threads)
    app.state.duels = {}  # duel id → LiveDuel, while it runs here
    # this machine's drafts a line and duels at once, learned from every duel it runs
    app.state.pace = Pace(settings.candidates, settings.max_duels, running=lambda: len(app.state.duels))
    app.state.catalog = FlowCatalog(
        settings.flows_dir, settings.max_turns_per_phase, settings.upload_max_files, settings.upload_max_bytes
    )
    app.state.relay = relay_client(settings.redis_url) if settings.redis_url else None
    app.state.tickets = Tickets(shared)
    app.state.start_rate = StartRate(shared, settings.starts_per_minute)
    app.state.stage = Stage(shared, app.state.owner)
    app.state.stages = set()  # the tasks running them
    app.include_router(api.router)
    app.include_router(duels.router)
    app.include_router(stream.router)
    if (page / "index.html").exists():
        app.mount("/", StaticFiles(directory=page, html=True), name="page")
    else:
        @app.get("/", include_in_schema=False)
        def no_page() -> HTMLResponse:
            return HTMLResponse("<h1>Local Duel</h1><p>The page is not built: run <code>scripts/setup</code>.</p>", 503)
    return app
