"""Turn-taking: what an agent reads before its line, how its line is edited, and what
happens after it.

Pipecat Flows enters a phase's node once per turn. On entry the `Prompter` picks the
turn's move and swaps the flow's context for the script as the speaker reads it, ending
on a cue that carries the move; the `Writer` writes several drafts; the
`LineEditor` keeps the best one fit to speak (or none, and the turn is tried again);
after the line has gone down the pipeline, the node's `take_turn` post-action counts
the turn, hands the cue to the partner and moves to the next phase when this one has
had its turns.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable

from pipecat.flows import FlowManager
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMUpdateSettingsFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import LLMSettings

from local_duel.core.settings import PromptStyle, Settings
from local_duel.pipeline import generation
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.events import DuelEvent, event
from local_duel.pipeline.frames import CueFrame, DraftFrame, LineFrame
from local_duel.pipeline.heckle import direction as heckle_direction
from local_duel.pipeline.line import MAX_SENTENCES, Line
from local_duel.pipeline.meaning import THREAD, Encoder
from local_duel.pipeline.nudge import cue_words
from local_duel.pipeline.rank import Scene, best
from local_duel.pipeline.script import Script
from local_duel.pipeline.stock import FALLBACK_LINES
from local_duel.show.cast import Cast
from local_duel.show.flow import DuelFlow
from local_duel.show.move import MovePicker, hook, plain
from local_duel.show.phase import Phase
from local_duel.show.rating import Rating

MAX_ATTEMPTS = 4


class Prompter(FrameProcessor):
    """Replaces the flow's context with the script as the current speaker reads it.

    Flows puts the node's task message (the phase's stage direction) in the context;
    the first turn of a phase writes it into the shared script, so every later prompt
    keeps the same prefix. The cue at the end carries the turn's move, picked once per
    turn (a retry keeps it) from the phase's moves; `moves=False` leaves cues bare.
    A heckle waiting in `heckles` goes into the script just before the cue, as a stage
    direction, and the turn's move is to answer it.
    """

    def __init__(
        self,
        script: Script,
        state: DuelState,
        views: dict[str, PromptStyle],
        models: dict[str, str],
        phases: list[Phase],
        settings: Settings,
        heckles: Callable[[], str | None] = lambda: None,
    ):
        super().__init__()
        self._script = script
        self._heckles = heckles
        self._heckle: str | None = None
        self._state = state
        self._views = views
        self._models = models
        self._moves = {p.name: p.moves for p in phases}
        self._picker = MovePicker(settings.seed) if settings.moves else None
        self._seed = settings.seed
        self._temperature = settings.temperature
        self._bias = {"topic": settings.nudge, "move": settings.nudge, "persona": settings.nudge_persona}
        self._move = ""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        state = self._state
        tasks = [m.get("content", "") for m in frame.context.get_messages() if isinstance(m, dict)]
        self._script.direct(state.phase, " ".join(t for t in tasks if isinstance(t, str)).strip())
        if state.attempt == 1:
            self._heckle = self._heckles()
            if self._heckle:
                self._script.interject(heckle_direction(self._heckle, state.speaker))
                self._move = f"answering the heckler, then back to {state.partner}"
            else:
                self._move = self._picker.pick(self._moves[state.phase], self._values()) if self._picker else ""
        cue = Line(
            state.speaker, state.phase, state.turn, "", attempts=state.attempt, move=self._move, heckle=self._heckle
        )
        cue.started_at = asyncio.get_running_loop().time()
        cue.mark("llm_start")
        speaker = state.speaker
        delta = LLMSettings(
            seed=generation.seed(self._seed, state.turn, state.attempt),
            model=self._models[speaker],
            temperature=generation.temperature(self._temperature, state.attempt),
        )
        await self.push_frame(LLMUpdateSettingsFrame(delta=delta))
        await self.push_frame(CueFrame(cue, self._nudge()))
        messages = self._script.messages(self._views[speaker], speaker, self._move)
        await self.push_frame(LLMContextFrame(LLMContext(messages=messages)))

    def _nudge(self) -> dict[str, float]:
        """What the cue is about, each word with the bias the writer nudges it by: the
        topic's words as the topic, the persona's as the persona, the move's others."""
        state, names = self._state, self._state.cast.names
        layers = [(self._move, self._bias["move"]), (hook(state.persona(state.speaker)), self._bias["persona"]),
                  (plain(state.topic), self._bias["topic"])]
        return {word: bias for text, bias in layers for word in cue_words([text], names)}

    def _values(self) -> dict[str, str]:
        """What a move's placeholders are filled with this turn."""
        state = self._state
        return {
            "speaker": state.speaker,
            "partner": state.partner,
            "topic": plain(state.topic),
            "speaker.persona": hook(state.persona(state.speaker)),
            "partner.persona": hook(state.persona(state.partner)),
        }


class LineEditor(FrameProcessor):
    """Collects the turn's drafts and lets only the best one fit to speak go on.

    Unfit drafts (empty, tags, an echo, profane under `family`) are dropped; of the
    rest the ranker keeps the best, judging with `meaning` which of the flow's phase
    `directions` each is nearest to. If none is left, `take_turn` asks again; on the
    last attempt a stock line stands in, so the duel never speaks garbage or stalls.
    """

    def __init__(
        self, script: Script, cast: Cast, topic: str, rating: Rating,
        directions: dict[str, str], meaning: Encoder | None = None,
    ):
        super().__init__()
        self._directions = directions
        self._meaning = meaning
        self._script = script
        self._names = cast.names
        self._personas = {agent.name: agent.persona for agent in cast.agents}
        self._topic = topic
        self._rating = rating
        self._cue: Line | None = None
        self._drafts: list[DraftFrame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, CueFrame):
            self._cue, self._drafts = frame.line, []
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._drafts = []
        elif isinstance(frame, DraftFrame):
            self._drafts.append(frame)
        elif isinstance(frame, LLMFullResponseEndFrame):
            await self._finish()
        else:
            await self.push_frame(frame, direction)

    async def _finish(self):
        line, self._cue = self._cue, None
        if line is None:
            return
        line.mark("llm_end")
        scene = Scene(
            self._names, self._topic, self._personas[line.speaker], line.move,
            self._script.direction(line.phase), [old.text for old in self._script.lines], self._rating,
            min((c.sentences for c in self._drafts), default=MAX_SENTENCES), line.phase, self._directions,
            tuple(self._personas.values()),
        )
        # Off the event loop: meaning takes about a tenth of a second, and other duels play.
        ranking = functools.partial(best, [c.text for c in self._drafts], scene, self._meaning)
        text = await asyncio.get_running_loop().run_in_executor(THREAD, ranking)
        if text is None and line.attempts >= MAX_ATTEMPTS:  # a stock line, the least used one
            said = [old.text for old in self._script.lines]
            text = min(FALLBACK_LINES, key=said.count)
        if text is None:
            return
        firsts = [c.first_token_at for c in self._drafts if c.first_token_at is not None]
        if firsts:
            line.time_to_first_token = min(firsts) - line.started_at
        line.text = text
        line.tokens = sum(c.tokens for c in self._drafts)
        line.drafts = len(self._drafts)
        self._script.say(line)
        await self.push_frame(LineFrame(line))


class Turns:
    """The `take_turn` post-action every phase node names, bound to one duel."""

    def __init__(
        self,
        flow: DuelFlow,
        script: Script,
        state: DuelState,
        turns_per_phase: int | None = None,
        on_line: Callable[[Line], Awaitable[None]] | None = None,
    ):
        self.flow = flow.build(self)  # the pipecat.flows.Flow with this object as its handlers
        self._script = script
        self._state = state
        self._turns_per_phase = turns_per_phase
        self._on_line = on_line
        self.entering: set[asyncio.Task] = set()  # phases being entered; a cancelled duel cancels them
        self._skipping = False

    def skip(self) -> None:
        """End the current phase after the line being written (the host's control)."""
        self._skipping = True

    async def take_turn(self, action: dict, flow_manager: FlowManager):
        state = self._state
        if len(self._script.lines) < state.turn:  # the line was rejected: ask again
            state.attempt += 1
            return self._enter(flow_manager)
        if self._on_line:
            await self._on_line(self._script.lines[-1])
        turns = self._turns_per_phase or action["turns"]
        state.next_turn()
        skipping, self._skipping = self._skipping, False
        if state.phase_turn > turns or skipping:
            if action.get("next") is None:
                lines = len(self._script.lines)
                await flow_manager.worker.queue_frames([event(DuelEvent.DUEL_ENDED, lines=lines), EndFrame()])
                return
            state.next_phase(action["next"])
        self._enter(flow_manager)

    def _enter(self, flow_manager: FlowManager):
        """Enter the state's phase again, for its next turn, with Flows' placeholders up to date."""
        flow_manager.state.update(self._state.placeholders())
        # Entered from a task: awaiting set_node inside a handler deadlocks the flow.
        task = asyncio.get_running_loop().create_task(flow_manager.set_node_from_config(self.flow.node(self._state.phase)))
        self.entering.add(task)
        task.add_done_callback(self.entering.discard)
