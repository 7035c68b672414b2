"""`/api/duels`: the history of duels — list, open, listen, read, delete, re-voice."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict

from local_duel.history import audio
from local_duel.history.export import EXPORTS
from local_duel.history.records import DuelDetail, DuelPage
from local_duel.history.revoice import NothingToRevoice, RevoicingBusy
from local_duel.history.store import DuelRunningError, DuelStore
from local_duel.pipeline.voice import UnknownVoiceError
from local_duel.server.deps import Svc
from local_duel.server.schemas import CHANGES, answers

router = APIRouter(prefix="/api/duels", tags=["history"], responses=answers())
UNKNOWN = {"404": "no duel with that id"}


def store(services: Svc) -> DuelStore:
    return services.store


Store = Annotated[DuelStore, Depends(store)]


class RevoiceRequest(BaseModel):
    """New voices by side; a side left out keeps its voice."""

    model_config = ConfigDict(extra="forbid")  # a misspelt side is named, not ignored

    first: str | None = None
    second: str | None = None


async def _duel(duel_id: str, store: DuelStore) -> DuelDetail:
    duel = await store.get(duel_id)
    if duel is None:
        raise HTTPException(404, f"no duel with id '{duel_id}'")
    return duel


def _download(content: bytes | str, media_type: str, duel_id: str, suffix: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="duel-{duel_id}.{suffix}"'}
    )


@router.get("")
async def list_duels(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # SQLite takes no larger integer
    topic: Annotated[str | None, Query(max_length=200, description="Part of the topic, any case.")] = None,
    cast: Annotated[str | None, Query(max_length=64, description="Part of either agent's name, any case.")] = None,
) -> DuelPage:
    """Stored duels, newest first."""
    return await store.list_duels(limit, offset, topic=topic, cast=cast)


@router.get("/{duel_id}", responses=answers(**UNKNOWN))
async def get_duel(duel_id: str, store: Store) -> DuelDetail:
    """A duel with its settings, flow snapshot and every line."""
    return await _duel(duel_id, store)


@router.get("/{duel_id}/audio.{suffix}", responses=answers(**{"404": "no duel with that id, or no such audio format"}))
async def duel_audio(duel_id: str, suffix: str, store: Store) -> Response:
    """The duel's sound as Ogg/Opus (`audio.ogg`) or WAV (`audio.wav`)."""
    if suffix not in ("ogg", "wav"):
        raise HTTPException(404, f"no audio format '{suffix}'; ask for audio.ogg or audio.wav")
    sound = await audio.duel_file(store, await _duel(duel_id, store), suffix)
    return _download(sound, f"audio/{suffix}", duel_id, suffix)


@router.get("/{duel_id}/transcript.{suffix}", responses=answers(**{"404": "no duel with that id, or no such transcript format"}))
async def transcript(duel_id: str, suffix: str, store: Store) -> Response:
    """The transcript as JSON (`.json`), WebVTT subtitles (`.vtt`) or a Markdown script (`.md`)."""
    if suffix not in EXPORTS:
        raise HTTPException(404, f"no transcript format '{suffix}'; ask for transcript.json, .vtt or .md")
    media_type, render = EXPORTS[suffix]
    return _download(render(await _duel(duel_id, store)), f"{media_type}; charset=utf-8", duel_id, suffix)


@router.delete("/{duel_id}", status_code=204, responses=answers(**{"403": CHANGES["403"], **UNKNOWN, "409": "the duel is still running"}))
async def delete_duel(duel_id: str, store: Store) -> None:
    try:
        deleted = await store.delete(duel_id)
    except DuelRunningError as e:
        raise HTTPException(409, str(e))
    if not deleted:
        raise HTTPException(404, f"no duel with id '{duel_id}'")


@router.post(
    "/{duel_id}/revoice",
    status_code=202,
    responses=answers(**CHANGES, **UNKNOWN, **{
        "409": "the duel is still running", "422": "an unknown voice, or nothing to revoice",
        "429": "too many re-voicings are already waiting",
    }),
)
async def revoice_duel(duel_id: str, body: RevoiceRequest, services: Svc, response: Response, store: Store) -> DuelDetail:
    """Speak the duel's lines again in new voices, no LLM; kept as a new duel whose
    `source_id` is this one. It answers at once with the new duel, `running` while its
    lines are spoken one by one (one re-voicing at a time); read it at `Location` until
    its status is `complete`."""
    voices = services.voices
    source = await _duel(duel_id, store)
    new_voices = body.model_dump(exclude_none=True)
    problems = []
    for side, voice in new_voices.items():
        try:
            voices.get(voice)
        except UnknownVoiceError as e:
            problems.append({"loc": ["body", side], "msg": str(e), "type": "value_error"})
    if problems:
        raise HTTPException(422, problems)
    try:
        new_id = await services.revoicing.begin(source, new_voices)
    except DuelRunningError as e:
        raise HTTPException(409, str(e))
    except NothingToRevoice as e:
        raise HTTPException(422, str(e))
    except RevoicingBusy as e:
        raise HTTPException(429, str(e), headers={"Retry-After": "10"})
    response.headers["Location"] = f"{router.prefix}/{new_id}"
    return await _duel(new_id, store)
