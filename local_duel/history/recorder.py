"""Recording a duel as it plays: its settings when it begins, each line and its audio as
soon as the line is voiced, and its status when it stops.

A line is committed once it has been voiced in full: when all its audio has gone past
the Recorder, just before the output. A listener has heard a line once its last sound
has played (the `line-ended` event, sent in step with the audio), which is always later.
So a server killed mid-duel keeps every line already heard; with lookahead, which voices
a line while the one before still plays, usually the line playing at the time too.
"""

import asyncio
from datetime import UTC, datetime

import yaml
from loguru import logger
from pipecat.frames.frames import EndFrame, Frame, OutputAudioRawFrame, TTSAudioRawFrame, TTSStartedFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from local_duel.core.settings import Settings
from local_duel.history import audio
from local_duel.history.records import NewDuel, StoredLine
from local_duel.history.store import DuelStore
from local_duel.pipeline.frames import LineFrame
from local_duel.pipeline.line import Line
from local_duel.show.cast import Cast
from local_duel.show.flow import DuelFlow


def new_duel(
    duel_id: str, flow: DuelFlow, cast: Cast, topic: str, turns: int | None, settings: Settings, views: dict | None
) -> NewDuel:
    """What a duel is, as it begins: settings, a snapshot of its flow, cast, topic, models."""
    return NewDuel(
        id=duel_id,
        flow=flow.name,
        flow_snapshot=yaml.safe_dump(flow.config.model_dump(exclude_defaults=True), sort_keys=False, allow_unicode=True),
        cast=cast.model_dump(),
        topic=topic,
        turns=turns,
        seed=settings.seed,
        settings={
            "models": {side: agent.model or settings.llm_model for side, agent in zip(("first", "second"), cast.agents)},
            "views": views or {name: "screenplay" for name in cast.names},
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "lookahead": settings.lookahead,
            "pause": settings.pause,
            "sample_rate": settings.sample_rate,
        },
    )


class Recorder(FrameProcessor):
    """Placed just before the output: keeps each voiced line with its audio and where it
    starts in the duel's sound, and notices whether the duel reached its end."""

    def __init__(self, store: DuelStore, duel_id: str, cast: Cast, sample_rate: int):
        super().__init__()
        self._store = store
        self._duel_id = duel_id
        self._sides = {cast.first.name: ("first", cast.first.voice), cast.second.name: ("second", cast.second.voice)}
        self._samples = 0  # audio gone past so far, voices and pauses
        self._line_start = 0
        self._line_audio = bytearray()
        self._sample_rate = sample_rate
        self.kept = 0  # lines kept so far
        self.ended = False  # the duel played to its last line

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, TTSStartedFrame):
                self._line_start, self._line_audio = self._samples, bytearray()
            elif isinstance(frame, OutputAudioRawFrame):
                self._samples += len(frame.audio) // 2
                if isinstance(frame, TTSAudioRawFrame):
                    self._line_audio += frame.audio
            elif isinstance(frame, LineFrame):
                await self._keep(frame.line)
            elif isinstance(frame, EndFrame):
                self.ended = True
        await self.push_frame(frame, direction)

    async def _keep(self, line: Line):
        rate = self._sample_rate
        side, voice = self._sides[line.speaker]
        self.kept += 1
        stored = StoredLine(
            number=self.kept, speaker=line.speaker, side=side, phase=line.phase, turn=line.turn, text=line.text,
            voice=voice, attempts=line.attempts, tokens=line.tokens,
            start_seconds=self._line_start / rate, audio_seconds=len(self._line_audio) / 2 / rate,
            time_to_first_token=line.time_to_first_token, time_to_first_audio=line.time_to_first_audio,
            spoken_at=datetime.now(UTC), heckle=line.heckle,
        )
        try:
            ogg = await asyncio.to_thread(audio.encode, bytes(self._line_audio), rate)
            await self._store.add_line(self._duel_id, stored, ogg)
        except Exception as e:  # the duel goes on; the log says what the history missed
            logger.error(f"duel {self._duel_id}: line {stored.number} could not be kept in the history: {e}")


class Recording:
    """One duel's record: begun before the duel plays, ended with its status."""

    def __init__(self, store: DuelStore, duel: NewDuel, cast: Cast, owner: str):
        self.store = store
        self.duel = duel
        self.owner = owner
        self.recorder = Recorder(store, duel.id, cast, duel.settings["sample_rate"])

    async def begin(self, **settings) -> None:
        """Keep the duel as it starts, with `settings` only known once it is set up (its rating)."""
        self.duel.settings.update(settings)
        await self.store.begin(self.duel, self.owner)

    async def end(self, error: str | None, settings: Settings, votes: dict[str, int] | None = None) -> str:
        """Set the status (complete, failed, or stopped when cut short) and the audience's
        votes, and apply retention. The whole duel's sound is built from its lines when it
        is first asked for (`audio.whole_ogg`), not here: encoding it took about 2
        CPU-seconds per ten lines from the duels still running, and many duels are never
        played back."""
        status = "failed" if error else "complete" if self.recorder.ended else "stopped"
        await self.store.finish(self.duel.id, status, error, votes)
        if status == "stopped" and not self.recorder.kept:  # an aborted start said nothing: not a duel to keep
            await self.store.delete(self.duel.id)
            return status
        if pruned := await self.store.prune(settings.keep_duels, settings.keep_bytes):
            logger.info(f"retention: deleted {len(pruned)} old duel(s)")
        return status
