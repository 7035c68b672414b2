"""Re-voicing: a stored duel's lines spoken again in other voices, with no LLM, kept as
a new duel that points at its source."""

import asyncio
import secrets
from datetime import UTC, datetime

import numpy as np

from local_duel.history import audio
from local_duel.history.records import DuelDetail, NewDuel
from local_duel.history.store import DuelRunningError, DuelStore
from local_duel.stage.voice import Voice, Voices


class NothingToRevoice(ValueError):
    """The source duel has no lines to speak."""


def _speech(voice: Voice, text: str, rate: int) -> np.ndarray:
    return np.concatenate(list(voice.synthesize(text, rate)))


async def revoice(store: DuelStore, voices: Voices, source: DuelDetail, new_voices: dict[str, str], owner: str) -> str:
    """Speak every line of `source` again, `new_voices` by side ("first"/"second"; a side
    left out keeps its voice), with the source's pause between lines. Returns the new id.
    Unknown voices raise `UnknownVoiceError` before anything is stored."""
    if source.status == "running":
        raise DuelRunningError(f"duel {source.id} is still running; re-voice it once it has ended")
    if not source.lines:
        raise NothingToRevoice(f"duel {source.id} has no lines to re-voice")
    cast = {side: {**agent, "voice": new_voices.get(side, agent["voice"])} for side, agent in source.cast.items()}
    speakers = {side: voices.get(cast[side]["voice"]) for side in cast}
    rate, pause = source.settings["sample_rate"], source.settings["pause"]
    duel = NewDuel(
        id=secrets.token_hex(6), flow=source.flow, flow_snapshot=source.flow_snapshot, cast=cast, topic=source.topic,
        turns=source.turns, seed=source.seed, settings=source.settings, source_id=source.id,
    )
    await store.begin(duel, owner)
    start = 0.0
    try:
        for line in source.lines:
            voice = speakers[line.side]
            pcm = await asyncio.to_thread(_speech, voice, line.text, rate)
            ogg = await asyncio.to_thread(audio.encode, pcm, rate)
            seconds = len(pcm) / rate
            spoken = line.model_copy(update={
                "voice": voice.id, "start_seconds": start, "audio_seconds": seconds, "time_to_first_token": None,
                "time_to_first_audio": None, "spoken_at": datetime.now(UTC),
            })
            await store.add_line(duel.id, spoken, ogg)
            start += seconds + pause
    except BaseException as e:
        await store.finish(duel.id, "failed", f"re-voicing stopped: {e}")
        raise
    await store.finish(duel.id, "complete")
    await audio.whole_ogg(store, duel.id, rate, finished=True)
    return duel.id
