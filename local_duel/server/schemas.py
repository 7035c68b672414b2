"""Request and response bodies of the HTTP API."""

from typing import Literal

from pydantic import BaseModel, Field

from local_duel.show.cast import Cast
from local_duel.show.flow import DEFAULT_FLOW
from local_duel.show.plain_text import OneLine
from local_duel.show.rating import Rating


class DuelRequest(BaseModel):
    """What `POST /api/start` takes: the duel's settings."""

    flow: str = Field(DEFAULT_FLOW, min_length=1, max_length=64, pattern=r"^[\w-]+$")
    cast: Cast
    topic: OneLine = Field(min_length=1, max_length=200)
    turns: int | None = Field(
        None, ge=1, description="Lines per phase, overriding the flow's counts; at most LOCAL_DUEL_MAX_TURNS_PER_PHASE."
    )
    rating: Rating | None = Field(None, description="family (no profanity reaches the voice) or adult; unset: the flow's, else family.")


class Problem(BaseModel):
    """Every error answer: what was wrong, as a sentence or a list of `{loc, msg, type}`."""

    detail: str | list | dict


CHANGES = {  # what any POST or DELETE may get before its route runs (server/guard.py, limits.py)
    "403": "another website's request",
    "411": "no Content-Length",
    "413": "the request is too large",
}


def answers(**codes: str) -> dict:
    """OpenAPI responses for a route; every route may get 400 for a Host that isn't this server."""
    codes = {"400": "the Host header is not one this server answers to", **codes}
    return {int(code): {"model": Problem, "description": why} for code, why in codes.items()}


class StartResponse(BaseModel):
    """The host's one-time socket, and the watch link (page and socket) for everyone else."""

    wsUrl: str
    duel_id: str
    watchUrl: str
    watchWsUrl: str


class PhaseInfo(BaseModel):
    name: str
    turns: int
    next: str | None


class FlowSummary(BaseModel):
    name: str
    phases: list[PhaseInfo]
    uploaded: bool


class FlowDetail(FlowSummary):
    mermaid: str
    config: dict


class Defaults(BaseModel):
    """The cast and topic a new duel starts from."""

    cast: Cast
    topic: str
    flow: str


HealthState = Literal["warming", "ready", "failed"]


class Health(BaseModel):
    """What `GET /api/health` says, 200 when ready and 503 otherwise: `state` for a
    program to act on, `message` for a person to read."""

    state: HealthState = Field(
        description="warming: not ready yet, ask again; ready: duels can start; failed: it won't be ready without a fix"
    )
    message: str = Field(description="Why, in a sentence: what is warming up, or what failed and how to fix it.")
    engine: str
    engine_url: str  # empty until the engine has started
    models_loaded: bool
    voices: list[str]
    duels_running: int
    max_duels: int
    stage: int = Field(description="Duels the stage takes now: max_duels, or fewer while this machine's lines come late.")
    seats_booked: int = Field(description="Places taken on the stage now: duels running, and tickets issued and not yet played (each held a few seconds).")
    viewers: int  # sockets watching the duels now, hosts included
    tasks: int  # asyncio tasks alive in the server: a duel that ended must leave none behind
