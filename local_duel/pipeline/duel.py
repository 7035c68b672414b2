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
    None takes the flow's, or `family`. `candidates` is how many drafts a line may have,
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
        candidates: Callable[[], int] | None = None,
        pace: Pace | None = None,
        heckles: Callable[[], str | None] = lambda: None,
    ):
        self.flow = flow
        self.cast = cast
        self.script = Script()
        self.state = DuelState.opening(cast, topic, flow.phases[0].name)
        self.error: str | None = None
        self._beginning: asyncio.Task | None = None
        self.turns = Turns(self.script, self.state, turns_per_phase, on_line)
        self.turns.flow = flow.build(self.turns)

        self.rating = rating or flow.rating or DEFAULT_RATING
        # Paced output only: a render's tape takes audio as fast as it comes.
        paced = any(isinstance(p, BaseOutputTransport) for p in output)
        ahead = paced and settings.lookahead
        pace = pace if ahead else None  # only lookahead sees a line come late
        share = candidates or (lambda: settings.candidates)
        lookahead = Lookahead(pace) if ahead else None
        models = {agent.name: agent.model or settings.llm_model for agent in cast.agents}
        self.llm = Writer(
            base_url=llm_url,
            settings=sampling(settings),
            candidates=(lambda: pace.drafts(share(), lookahead.playing)) if pace else share,
            first=settings.first_candidates,
            at_once=settings.candidates_at_once,
            steer=steer_for(models.values(), settings) if self.rating == "family" else {},
            lexicons=lexicons_for(models.values(), settings),
        )
        # Nobody speaks into a duel: no turn model to load (Pipecat's default, Smart Turn,
        # cost each duel 65 ms before its first cue and 10 MB while it ran).
        aggregator = LLMContextAggregatorPair(
            LLMContext(), user_params=LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies())
        )
        views = views or {agent.name: "screenplay" for agent in cast.agents}
        prompter = Prompter(self.script, self.state, views, models, flow.phases, settings, heckles)
        speech = [Voicebox({a.name: voices.get(a.voice) for a in cast.agents}, settings.sample_rate), LineEnder()] if voices else []
        deadline = LineDeadline(settings.line_timeout)
        playout = [Playout()] if paced and not settings.lookahead else []
        self.pipeline = Pipeline([
            *inputs,
            aggregator.user(),
            prompter,
            self.llm,
            deadline,
            LineEditor(
                self.script, cast, topic, self.rating, flow.directions(),
                encoder(settings.models_dir) if settings.meaning else None,
            ),
            Announcer(cast, settings.pause, settings.sample_rate),
            *speech,
            *([lookahead] if lookahead else []),
            *output,
            *playout,
        ])
        self.worker = PipelineWorker(
            self.pipeline,
            params=PipelineParams(audio_out_sample_rate=settings.sample_rate),
            idle_timeout_secs=None,
            # The raw LLM text includes rejected attempts; the audience gets clean lines only.
            rtvi_observer_params=RTVIObserverParams(bot_llm_enabled=False),
        )
        self.flow_manager = FlowManager(
            llm=self.llm,
            context_aggregator=aggregator,
            worker=self.worker,
            context_strategy=ContextStrategyConfig(strategy=ContextStrategy.RESET),
        )
        self.flow_manager.state.update(self.state.placeholders())
        if lookahead:
            lookahead.flow_manager = self.flow_manager

        @self.worker.event_handler("on_pipeline_error")
        async def on_pipeline_error(worker, frame: ErrorFrame):
            culprit = f"the LLM at {llm_url}" if frame.processor in (self.llm, deadline) else str(frame.processor)
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
            await self.llm._client.close()  # its pooled connections to the engine are kept alive forever
