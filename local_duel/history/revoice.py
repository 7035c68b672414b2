"""Re-voicing: a stored duel's lines spoken again in other voices, with no LLM, kept as
a new duel that points at its source.

It runs in the background, so the request answers at once with the new duel (status
`running`, its lines arriving as they are spoken), and one at a time: a long duel takes
a core for tens of seconds, and live duels need the other. A few more may wait their
turn; past that the server says it is busy."""

import asyncio
import secrets
from datetime import UTC, datetime

import numpy as np
from loguru import logger

from local_duel.history import audio
from local_duel.history.records import DuelDetail, NewDuel
from local_duel.history.store import DuelRunningError, DuelStore
from local_duel.pipeline.voice import Voice, Voices

WAITING = 4  # re-voicings that may wait behind the one being spoken


class NothingToRevoice(ValueError):
    """The source duel has no lines to speak."""


class RevoicingBusy(Exception):
    """Too many re-voicings are already waiting."""


def _speech(voice: Voice, text: str, rate: int) -> np.ndarray:
    return np.concatenate(list(voice.synthesize(text, rate)))


class Revoicing:
    """The server's re-voicings: begun at once, spoken one after another."""

    def __init__(self, store: DuelStore, voices: Voices, owner: str):
        self.store, self.voices, self.owner = store, voices, owner
        self._turn = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    async def begin(self, source: DuelDetail, new_voices: dict[str, str]) -> str:
        """Store the new duel as running and queue its speaking; returns its id.
        `new_voices` by side ("first"/"second"; a side left out keeps its voice).
        Unknown voices raise `UnknownVoiceError` before anything is stored."""
        if source.status == "running":
            raise DuelRunningError(f"duel {source.id} is still running; re-voice it once it has ended")
        if not source.lines:
            raise NothingToRevoice(f"duel {source.id} has no lines to re-voice")
        if len(self._tasks) > WAITING:
            raise RevoicingBusy(f"{len(self._tasks)} re-voicings are already under way or waiting; try again once one has ended")
        cast = {side: {**agent, "voice": new_voices.get(side, agent["voice"])} for side, agent in source.cast.items()}
        speakers = {side: self.voices.get(cast[side]["voice"]) for side in cast}
        duel = NewDuel(
            id=secrets.token_hex(6), flow=source.flow, flow_snapshot=source.flow_snapshot, cast=cast, topic=source.topic,
            turns=source.turns, seed=source.seed, settings=source.settings, source_id=source.id,
        )
        await self.store.begin(duel, self.owner)
        task = asyncio.get_running_loop().create_task(self._speak(source, duel.id, speakers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return duel.id

    async def _speak(self, source: DuelDetail, duel_id: str, speakers: dict[str, Voice]) -> None:
        """Speak every line of `source` with the source's pause between lines, each kept
        as it is spoken. The whole duel's sound is encoded when first played, as a live
        duel's is."""
        rate, pause = source.settings["sample_rate"], source.settings["pause"]
        start, status, error = 0.0, "complete", None
        try:
            async with self._turn:
                for line in source.lines:
                    voice = speakers[line.side]
                    pcm = await asyncio.to_thread(_speech, voice, line.text, rate)
                    ogg = await asyncio.to_thread(audio.encode, pcm, rate)
                    seconds = len(pcm) / rate
                    spoken = line.model_copy(update={
                        "voice": voice.id, "start_seconds": start, "audio_seconds": seconds,
                        "time_to_first_token": None, "time_to_first_audio": None, "spoken_at": datetime.now(UTC),
                    })
                    await self.store.add_line(duel_id, spoken, ogg)
                    start += seconds + pause
        except asyncio.CancelledError:  # the server stops: kept as stopped, like a live duel
            status, error = "stopped", "the server stopped before every line was spoken again"
            raise
        except Exception as e:
            logger.exception(f"re-voicing {source.id} as {duel_id} failed")
            status, error = "failed", f"re-voicing stopped: {e}"
        finally:
            self._tasks.discard(asyncio.current_task())  # no longer counted once anyone can see it ended
            await self.store.finish(duel_id, status, error)

    async def close(self) -> None:
        """Stop every re-voicing: each is kept as stopped with the lines it has."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
