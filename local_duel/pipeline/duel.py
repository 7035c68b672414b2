"""One duel, one Pipecat pipeline.

    [input] → flow context → Prompter → Writer (OLLamaLLMService) → LineDeadline → LineEditor
        → Announcer → Voicebox (Piper) → LineEnder → [Lookahead] → output → [Playout]

The output is whatever the caller puts at the end: a tape for `render`, the WebSocket
transport for the web page. A transport paces the audio in real time; there Lookahead
has the next line written and voiced while the current one plays, or, with lookahead
off, Playout holds each turn until its line has been heard.
"""

import asyncio
from collections.abc import Awaitable, Callable

from loguru import logger
from pipecat.flows import ContextStrategy, ContextStrategyConfig, FlowManager
from pipecat.frames.frames import ErrorFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.processors.frameworks.rtvi.observer import RTVIObserverParams
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from local_duel.core.settings import PromptStyle, Settings
from local_duel.pipeline.announcer import Announcer, LineEnder
from local_duel.pipeline.deadline import LineDeadline
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.events import DuelEvent, event, urgent_event
from local_duel.pipeline.line import Line
from local_duel.pipeline.lookahead import Lookahead, Playout
from local_duel.pipeline.meaning import encoder
from local_duel.pipeline.nudge import lexicons_for
from local_duel.pipeline.pace import Pace
from local_duel.pipeline.script import Script
from local_duel.pipeline.turn import LineEditor, Prompter, Turns
from local_duel.pipeline.voice import Voicebox, Voices
from local_duel.pipeline.writer import Writer, sampling
from local_duel.show.cast import Cast
from local_duel.show.flow import DuelFlow
from local_duel.show.rating import DEFAULT_RATING, Rating, steer_for


class Duel:
    """A flow, a cast and a topic, run as one pipeline whose state lives in a FlowManager.

    `voices` None writes the duel without speaking it (the quality benchmark). `rating`
    None takes the flow's, or `family`. `drafts` is how many drafts a line may have,
    and a `pace` takes fewer while lookahead finds lines late. `heckles` hands over the
    audience's heckle, if one is waiting, as each line is prompted.
    """

    def __init__(
        self,
        flow: DuelFlow,
        cast: Cast,
        topic: str,
        *,
        llm_url: str,
        voices: Voices | None,
        settings: Settings,
        output: list[FrameProcessor],
        inputs: list[FrameProcessor] = (),
        turns_per_phase: int | None = None,
        views: dict[str, PromptStyle] | None = None,
        on_line: Callable[[Line], Awaitable[None]] | None = None,
        rating: Rating | None = None,
        drafts: Callable[[], int] | None = None,
        pace: Pace | None = None,
        heckles: Callable[[], str | None] = lambda: None,
    ):
        self.flow, self.cast, self.llm_url = flow, cast, llm_url
        self.script = Script()
        self.state = DuelState.opening(cast, topic, flow.phases[0].name)
        self.error: str | None = None
        self._beginning: asyncio.Task | None = None
        self.turns = Turns(flow, self.script, self.state, turns_per_phase, on_line)
        self.rating = rating or flow.rating or DEFAULT_RATING
        models = {agent.name: agent.model or settings.llm_model for agent in cast.agents}
        # Paced output only: a render's tape takes audio as fast as it comes.
        paced = any(isinstance(p, BaseOutputTransport) for p in output)
        ahead = paced and settings.lookahead
        lookahead = Lookahead(pace, flow_manager=lambda: self.flow_manager) if ahead else None
        self.llm = self._writer(settings, models, drafts or (lambda: settings.drafts), pace if ahead else None, lookahead)
        # Nobody speaks into a duel: no turn model to load (Pipecat's default, Smart Turn,
        # cost each duel 65 ms before its first cue and 10 MB while it ran).
        aggregator = LLMContextAggregatorPair(
            LLMContext(), user_params=LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies())
        )
        self.deadline = LineDeadline(settings.line_timeout)
        self.pipeline = Pipeline([  # in the order a line's frames travel
            *inputs,
            aggregator.user(),
            Prompter(self.script, self.state, views or dict.fromkeys(models, "screenplay"), models, flow.phases, settings, heckles),
            self.llm,
            self.deadline,
            LineEditor(self.script, cast, topic, self.rating, flow.directions(), encoder(settings.models_dir) if settings.meaning else None),
            Announcer(cast, settings.pause, settings.sample_rate),
            *([Voicebox({a.name: voices.get(a.voice) for a in cast.agents}, settings.sample_rate), LineEnder()] if voices else []),
            *([lookahead] if lookahead else []),
            *output,
            *([Playout()] if paced and not settings.lookahead else []),
        ])
        self.worker = PipelineWorker(
            self.pipeline,
            params=PipelineParams(audio_out_sample_rate=settings.sample_rate),
            idle_timeout_secs=None,
            # The raw LLM text includes rejected attempts; the audience gets clean lines only.
            rtvi_observer_params=RTVIObserverParams(bot_llm_enabled=False),
        )
        self.worker.event_handler("on_pipeline_error")(self._failed)
        self.flow_manager = FlowManager(
            llm=self.llm,
            context_aggregator=aggregator,
            worker=self.worker,
            context_strategy=ContextStrategyConfig(strategy=ContextStrategy.RESET),
        )
        self.flow_manager.state.update(self.state.placeholders())

    def _writer(self, settings: Settings, models: dict[str, str], drafts: Callable[[], int], pace: Pace | None, lookahead) -> Writer:
        """The LLM step; with a `pace` (lookahead only sees a line come late), fewer drafts
        while lines are found late."""
        return Writer(
            base_url=self.llm_url,
            settings=sampling(settings),
            drafts=(lambda: pace.drafts(drafts(), lookahead.playing)) if pace else drafts,
            first=settings.first_drafts,
            at_once=settings.drafts_at_once,
            steer=steer_for(models.values(), settings) if self.rating == "family" else {},
            lexicons=lexicons_for(models.values(), settings),
        )

    async def _failed(self, worker: PipelineWorker, frame: ErrorFrame) -> None:
        """A processor failed: the duel stops, saying which and why."""
        culprit = f"the LLM at {self.llm_url}" if frame.processor in (self.llm, self.deadline) else str(frame.processor)
        self.error = f"{culprit} failed: {frame.error}"
        logger.error(f"duel stopped: {self.error}")
        await worker.queue_frame(urgent_event(DuelEvent.ERROR, message=f"The duel stopped: {self.error}", fatal=True))
        await worker.cancel()

    @property
    def begun(self) -> bool:
        return self._beginning is not None

    def begin(self) -> None:
        """Start the duel, once (a client may say it is ready twice), without waiting on
        it: entering a phase only returns once its first line has gone down the pipeline,
        which must not hold up an event handler."""
        if not self.begun:
            self._beginning = asyncio.get_running_loop().create_task(self.start())

    async def start(self) -> None:
        """Announce the duel and enter the first phase: the first line is generated at once."""
        await self.worker.queue_frame(
            event(
                DuelEvent.DUEL_STARTED,
                flow=self.flow.name,
                phases=[p.name for p in self.flow.phases],
                cast=self.cast.model_dump(),
                topic=self.state.topic,
            )
        )
        await self.flow_manager.initialize(self.turns.flow.initial_node)

    async def run(self) -> None:
        """Run the pipeline until the duel ends, fails or is cancelled."""
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        try:
            await runner.run()
        finally:  # a cancelled duel leaves flow transitions waiting for lines that never come
            pending = [t for t in (self._beginning, *self.turns.entering) if t and not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
            await self.llm.close()
