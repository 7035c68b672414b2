"""The FastAPI app: the page, the routes and the duel socket, over one `Services`
(engine, voices, store, stage) shared by every duel."""

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
from local_duel.history.leases import hold_leases
from local_duel.pipeline.meaning import encoder
from local_duel.pipeline.nudge import lexicons_for
from local_duel.server.admission import hold_places
from local_duel.server.deps import Services
from local_duel.server.errors import HANDLERS, SafeJSONResponse
from local_duel.server.guard import PageHeaders, SameOrigin, allowed_hosts
from local_duel.server.lan import AccessCode
from local_duel.server.limits import ENVELOPE, BodyLimit
from local_duel.server.routes import api, duels
from local_duel.server.ws import stream
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
        app.state.services = services = await Services.open(settings)
        if interrupted := await services.store.recover(services.owner):
            logger.warning(f"duels cut off when this server last stopped, now interrupted: {interrupted}")
        loop = asyncio.get_running_loop()
        background = [
            loop.create_task(hold_leases(services.store, services.owner)),
            loop.create_task(hold_places(services.admission, services.engine, services.duels)),
            loop.create_task(_warm_up(services, announce)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await services.close()

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
    app.include_router(api.router)
    app.include_router(duels.router)
    app.include_router(stream.router)
    _serve_page(app, page)
    return app


async def _warm_up(services: Services, announce: Callable[[str], None]) -> None:
    """The page is served at once; the engine and the voices load and warm meanwhile, and
    /api/health says 503 (warming up, or why it failed) until they are ready."""
    settings, engine = services.settings, services.engine
    try:
        await engine.start()
        await asyncio.gather(
            engine.warm(),
            asyncio.to_thread(services.voices.warm),
            # The family rating's steering and the nudge's lexicon read the vocabulary
            # once each (about half a second).
            asyncio.to_thread(steer_for, [settings.llm_model], settings),
            asyncio.to_thread(lexicons_for, [settings.llm_model], settings),
            # The sentence encoder the ranker judges a line's phase with (mapped: milliseconds).
            *([asyncio.to_thread(encoder, settings.models_dir)] if settings.meaning else []),
        )
    except Exception as e:
        services.warmup_error = str(e)
        logger.error(f"the engine could not start: {e}")
        return
    services.ready = True
    announce(f"Local Duel is ready: open {page_url(settings)}")


def _serve_page(app: FastAPI, page: Path) -> None:
    if (page / "index.html").exists():
        app.mount("/", StaticFiles(directory=page, html=True), name="page")
    else:
        @app.get("/", include_in_schema=False)
        def no_page() -> HTMLResponse:
            return HTMLResponse("<h1>Local Duel</h1><p>The page is not built: run <code>scripts/setup</code>.</p>", 503)
