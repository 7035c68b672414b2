"""Turn-taking: what an agent reads before its line, how its line is edited, and what
happens after it.

Pipecat Flows enters a phase's node once per turn. On entry the `Prompter` swaps the
flow's context for the script as the speaker reads it; after the LLM answers, the
`LineEditor` turns the raw text into a clean line (or nothing, and the turn is tried
again); after the line has gone down the pipeline, the node's `take_turn` post-action
counts the turn, hands the cue to the partner and moves to the next phase when this
one has had its turns.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipecat.flows import FlowManager
from pipecat.frames.frames import (
    DataFrame,
    EndFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUpdateSettingsFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import LLMSettings

from local_duel.announcer import event
from local_duel.cast import Cast
from local_duel.line import Line, LineFrame, clean
from local_duel.script import Script, View

MAX_ATTEMPTS = 4
RETRY_HEAT = 0.2  # each retry samples this much hotter, to get off a line the model keeps repeating
FALLBACK_LINES = [
    "Well, I'll let that speak for itself.",
    "Hmm. You really know how to keep a conversation going.",
    "I'm speechless, and that doesn't happen often.",
    "Let's just say I've heard better.",
    "Fascinating. Truly. Go on.",
    "You know what? Touché.",
    "I'm going to pretend you didn't say that.",
    "Bold of you to say that out loud.",
]


@dataclass
class CueFrame(DataFrame):
    """The line about to be generated: who speaks, in which phase and turn."""

    line: Line


class Prompter(FrameProcessor):
    """Replaces the flow's context with the script as the current speaker reads it.

    Flows puts the node's task message (the phase's stage direction) in the context;
    the first turn of a phase writes it into the shared script, so every later prompt
    keeps the same prefix.
    """

    def __init__(self, script: Script, views: dict[str, View], models: dict[str, str], seed: int, temperature: float):
        super().__init__()
        self._script = script
        self.state: dict = {}  # the FlowManager's state, set once the manager exists
        self._views = views
        self._models = models
        self._seed = seed
        self._temperature = temperature

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        state = self.state
        tasks = [m.get("content", "") for m in frame.context.get_messages() if isinstance(m, dict)]
        self._script.direct(state["phase"], " ".join(t for t in tasks if isinstance(t, str)).strip())
        cue = Line(state["speaker"], state["phase"], state["turn"], "", attempts=state["attempt"])
        cue.started_at = asyncio.get_running_loop().time()
        cue.mark("llm_start")
        # A different seed per turn and attempt: a retry must not repeat the rejected line.
        seed = self._seed + 100 * state["turn"] + state["attempt"]
        speaker = state["speaker"]
        temperature = self._temperature + RETRY_HEAT * (state["attempt"] - 1)
        delta = LLMSettings(seed=seed, model=self._models[speaker], temperature=temperature)
        await self.push_frame(LLMUpdateSettingsFrame(delta=delta))
        await self.push_frame(CueFrame(cue))
        messages = self._script.messages(self._views[speaker], speaker)
        await self.push_frame(LLMContextFrame(LLMContext(messages=messages)))


class LineEditor(FrameProcessor):
    """Collects the LLM's answer, cleans it, and lets only a clean line go on to be spoken.

    An unusable answer (empty, tags, a repeat) is dropped and `take_turn` asks again; on
    the last attempt a stock line stands in, so the duel never speaks garbage or stalls.
    """

    def __init__(self, script: Script, cast: Cast):
        super().__init__()
        self._script = script
        self._names = cast.names
        self._cue: Line | None = None
        self._text: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, CueFrame):
            self._cue, self._text = frame.line, []
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._text = []
        elif isinstance(frame, LLMTextFrame):
            if self._cue and self._cue.time_to_first_token is None:
                self._cue.time_to_first_token = asyncio.get_running_loop().time() - self._cue.started_at
            self._text.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            await self._finish()
        else:
            await self.push_frame(frame, direction)

    async def _finish(self):
        line, self._cue = self._cue, None
        if line is None:
            return
        line.mark("llm_end")
        text = clean("".join(self._text), self._names)
        if text and any(text == old.text for old in self._script.lines):
            text = None
        if text is None and line.attempts >= MAX_ATTEMPTS:  # a stock line, the least used one
            said = [old.text for old in self._script.lines]
            text = min(FALLBACK_LINES, key=said.count)
        if text is None:
            return
        line.text = text
        line.tokens = len(self._text)
        self._script.say(line)
        await self.push_frame(LineFrame(line))


class Turns:
    """The `take_turn` post-action every phase node names, bound to one duel."""

    def __init__(
        self,
        script: Script,
        turns_per_phase: int | None = None,
        on_line: Callable[[Line], Awaitable[None]] | None = None,
    ):
        self._script = script
        self._turns_per_phase = turns_per_phase
        self._on_line = on_line
        self.flow = None  # the pipecat.flows.Flow built with this object as its handlers
        self.entering: set[asyncio.Task] = set()  # phases being entered; a cancelled duel cancels them

    async def take_turn(self, action: dict, flow_manager: FlowManager):
        state = flow_manager.state
        if len(self._script.lines) < state["turn"]:  # the line was rejected: ask again
            state["attempt"] += 1
            return self._enter(flow_manager, state["phase"])
        if self._on_line:
            await self._on_line(self._script.lines[-1])
        turns = self._turns_per_phase or action["turns"]
        state.update(
            turn=state["turn"] + 1,
            phase_turn=state["phase_turn"] + 1,
            attempt=1,
            speaker=state["partner"],
            partner=state["speaker"],
        )
        if state["phase_turn"] > turns:
            if action.get("next") is None:
                lines = len(self._script.lines)
                await flow_manager.worker.queue_frames([event("duel-ended", lines=lines), EndFrame()])
                return
            state.update(phase=action["next"], phase_turn=1)
        self._enter(flow_manager, state["phase"])

    def _enter(self, flow_manager: FlowManager, phase: str):
        # Entered from a task: awaiting set_node inside a handler deadlocks the flow.
        task = asyncio.get_running_loop().create_task(flow_manager.set_node_from_config(self.flow.node(phase)))
        self.entering.add(task)
        task.add_done_callback(self.entering.discard)
