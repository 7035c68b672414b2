"""The turn-taking processors, driven frame by frame with Pipecat's own `run_test`.

No model and no voice, by design: the frames the Writer, the Voicebox and the output
transport would send are sent by the test, so each rule is seen in milliseconds,
including the ones the real model almost never reaches (four unfit attempts in a row).
The end-to-end tests run the same processors on the real model, voices and transport.
"""

import asyncio
from dataclasses import dataclass

from pipecat.flows.actions import FunctionActionFrame
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    DataFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from local_duel.core.settings import Settings
from local_duel.pipeline.announcer import Announcer, LineEnder
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.frames import CueFrame, DraftFrame, LineFrame
from local_duel.pipeline.line import Line
from local_duel.pipeline.lookahead import Lookahead, Playout
from local_duel.pipeline.pace import FEWEST, Pace
from local_duel.pipeline.script import Script
from local_duel.pipeline.stock import FALLBACK_LINES
from local_duel.pipeline.turn import MAX_ATTEMPTS, LineEditor
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast
from local_duel.show.placeholders import FLOW_PLACEHOLDERS, fill

CAST = Cast.from_file(DEFAULT_CAST)
MAX, AVA = CAST.first.name, CAST.second.name
UNFIT = ["<end_of_turn>", f"{AVA}:", "   "]  # a template token, a bare cue, nothing
FIT = "Pineapple belongs on pizza, and your smug code reviews prove you know nothing about taste."
RATE = Settings().sample_rate


def _editor_frames(attempt: int, drafts: list[str]) -> list[Frame]:
    """One attempt at Ava's second line, as the Prompter and the Writer send it."""
    return [
        CueFrame(Line(AVA, "flirt", 2, "", attempts=attempt)),
        LLMFullResponseStartFrame(),
        *(DraftFrame(text, 3, None) for text in drafts),
        LLMFullResponseEndFrame(),
    ]


def _script(*said: str) -> Script:
    script = Script()
    for turn, text in enumerate(said, 1):
        script.say(Line(MAX, "flirt", turn, text))
    return script


async def test_the_best_fit_candidate_is_spoken_and_written_into_the_script():
    script = _script("Hi.")
    down, _ = await run_test(
        LineEditor(script, CAST, DEFAULT_TOPIC, "family", {}),
        frames_to_send=_editor_frames(1, [*UNFIT, FIT]),
        expected_down_frames=[LineFrame],
    )
    assert down[0].line.text == FIT and down[0].line.tokens == 3 * (len(UNFIT) + 1) and down[0].line.drafts == len(UNFIT) + 1
    assert script.lines[-1] is down[0].line


async def test_an_attempt_with_no_fit_candidate_is_refused():
    """Nothing goes on: `take_turn` sees no new line and asks again."""
    script = _script("Hi.")
    await run_test(
        LineEditor(script, CAST, DEFAULT_TOPIC, "family", {}),
        frames_to_send=_editor_frames(MAX_ATTEMPTS - 1, UNFIT),
        expected_down_frames=[],
    )
    assert len(script.lines) == 1


async def test_a_profane_candidate_is_refused_under_family():
    script = _script("Hi.")
    await run_test(
        LineEditor(script, CAST, DEFAULT_TOPIC, "family", {}),
        frames_to_send=_editor_frames(1, ["Pineapple on pizza is fucking disgusting, you smug engineer."]),
        expected_down_frames=[],
    )


async def test_after_the_last_attempt_the_least_used_stock_line_stands_in():
    script = _script(FALLBACK_LINES[0], "Hi.", FALLBACK_LINES[1])
    down, _ = await run_test(
        LineEditor(script, CAST, DEFAULT_TOPIC, "family", {}),
        frames_to_send=_editor_frames(MAX_ATTEMPTS, UNFIT),
        expected_down_frames=[LineFrame],
    )
    assert down[0].line.text == FALLBACK_LINES[2]  # the first one never said
    assert down[0].line.attempts == MAX_ATTEMPTS and script.lines[-1] is down[0].line


@dataclass
class PlayedFrame(DataFrame):
    """Test cue for the stand-in output below: the oldest queued line has played."""


class Output(FrameProcessor):
    """Stands in for the output transport: says upstream that a line stopped playing."""

    def __init__(self, log: list):
        super().__init__()
        self._log = log

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, PlayedFrame):
            self._log.append("played")
            await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
        else:
            await self.push_frame(frame, direction)


async def test_lookahead_takes_a_turn_once_voiced_but_never_more_than_one_line_ahead():
    log = []

    async def take_turn(action: dict, flow_manager) -> None:
        log.append(f"turn {action['turn']}")

    lookahead = Lookahead(flow_manager=lambda: None)
    down, _ = await run_test(
        Pipeline([lookahead, Output(log)]),
        frames_to_send=[
            TTSStoppedFrame(), FunctionActionFrame({"turn": 1}, take_turn),  # line 1 voiced: write line 2 now
            TTSStoppedFrame(), FunctionActionFrame({"turn": 2}, take_turn),  # line 2 voiced, line 1 still playing
            PlayedFrame(),  # line 1 heard: line 2 is now the only one ahead
        ],
    )
    assert log == ["turn 1", "played", "turn 2"]
    actions = [f for f in down if isinstance(f, FunctionActionFrame)]
    assert [a.action["turn"] for a in actions] == [1, 2]
    assert all(a.function is not take_turn for a in actions)  # Flows' own run of it is a no-op


def test_a_late_line_costs_a_draft_and_two_roomy_lines_give_one_back():
    pace = Pace(4)
    assert pace.drafts(share=4) == 4
    pace.heard(None, 5.0)  # the next line was not ready when the one playing ended
    assert pace.drafts(4) == 3
    pace.heard(1.0, 3.0)  # 1 s to spare, a draft's worth (3 s ÷ 3): not yet room for one more
    pace.heard(2.0, 3.0)
    assert pace.drafts(4) == 3
    pace.heard(2.0, 3.0)  # the second line in a row with more than a draft's worth to spare
    assert pace.drafts(4) == 4
    for _ in range(6):
        pace.heard(9.0, 1.0)
    assert pace.drafts(4) == 4  # never above the setting
    for _ in range(6):
        pace.drafts(4)
        pace.heard(None, 9.0)
    assert pace.drafts(4) == FEWEST  # never below two: one leaves the ranker no choice
    assert pace.drafts(share=1) == 1  # unless a full stage's share of the slots is one
    pace = Pace(4)
    assert pace.drafts(share=3) == 3  # a busy stage's share is the limit, and a late line counts from it
    pace.heard(None, 5.0)
    assert pace.drafts(4) == 2
    pace = Pace(4)
    pace.drafts(share=2)
    pace.heard(9.0, 1.0)
    pace.heard(9.0, 1.0)  # room to spare at a share of two says nothing against four
    assert pace.drafts(4) == 4


def test_a_line_late_at_two_drafts_shrinks_the_stage_and_roomy_lines_grow_it_back():
    running = 4
    pace = Pace(4, seats=6, running=lambda: running)
    assert pace.stage == 6  # nothing learned yet: the setting
    pace.drafts(4)
    pace.heard(None, 5.0)  # late at four drafts: a draft is cut, the stage stays
    assert (pace.drafts(4), pace.stage) == (3, 6)
    pace.heard(None, 5.0)
    assert (pace.drafts(4), pace.stage) == (2, 6)
    pace.heard(None, 5.0)  # late at two: one duel fewer than are running
    assert (pace.drafts(4), pace.stage) == (2, 3)
    running = 3
    pace.heard(None, 5.0)  # still late with one gone: the stage keeps shrinking, never below one
    assert pace.stage == 2
    running = 1
    pace.heard(None, 5.0)
    assert pace.stage == 1
    pace.heard(9.0, 1.0)
    pace.heard(9.0, 1.0)  # two roomy lines: room for one more than are running
    assert (pace.drafts(4), pace.stage) == (3, 2)
    running = 6
    for _ in range(6):
        pace.drafts(4)
        pace.heard(9.0, 1.0)
    assert pace.stage == 6  # never above the setting


def test_a_line_gets_no_more_drafts_than_fit_behind_the_line_playing():
    pace = Pace(6)
    assert pace.drafts(6) == 6  # the opening is written behind nothing: its own setting
    assert pace.drafts(6, behind=9.0) == FEWEST  # nothing learned yet of what a draft costs
    pace.took(3.0, drafts=6)  # a line sounded 3 s after it was asked for, from 6 drafts
    assert pace.drafts(6, behind=1.3) == 2  # behind a short line: what fits at 0.5 s a draft
    assert pace.drafts(6, behind=2.4) == 4
    assert pace.drafts(6, behind=9.0) == 6  # never above the setting…
    assert pace.drafts(6, behind=0.3) == FEWEST  # …nor below two however short the line
    assert pace.drafts(1, behind=9.0) == 1  # a full stage's share still limits
    pace.took(1.5, drafts=1)  # a busy machine: lately a draft costs (0.5 + 1.5) / 2 s
    assert pace.drafts(6, behind=2.4) == 2


def test_a_line_cut_short_for_time_and_still_late_costs_no_draft_and_no_seat():
    pace = Pace(6, seats=2, running=lambda: 2)
    pace.took(3.0, drafts=6)
    assert pace.drafts(6, behind=1.3) == 2  # cut to what fits behind a short line…
    pace.heard(None, 2.0)  # …and late all the same: the cost was misjudged
    assert (pace.drafts(6), pace.stage) == (6, 2)
    assert pace.drafts(2, behind=9.0) == 2  # at two by its share, not cut: late says the stage is too full
    pace.heard(None, 2.0)
    assert pace.stage == 1


async def _paced(*frames: Frame) -> Pace:
    """Two lines through Lookahead, with `frames` between taking the second line's turn
    and the first line ending; the pace as it is after."""

    async def take_turn(action: dict, flow_manager) -> None:
        pass

    pace = Pace(4)
    await run_test(
        Pipeline([Lookahead(pace, flow_manager=lambda: None), Output([])]),
        frames_to_send=[
            TTSStoppedFrame(), FunctionActionFrame({"turn": 1}, take_turn),  # line 1 voiced: line 2 is asked for
            *frames,
            PlayedFrame(),  # line 1 has played
        ],
    )
    return pace


async def test_a_line_that_has_not_sounded_when_the_line_ahead_ends_costs_a_draft():
    assert (await _paced(SleepFrame(0.05))).drafts(4) == 3
    sound = TTSAudioRawFrame(b"\0\0" * 160, RATE, 1)
    assert (await _paced(SleepFrame(0.05), sound, SleepFrame(0.05))).drafts(4) == 4


async def test_lookahead_writes_the_next_line_behind_the_voiced_one_at_the_cost_it_saw():
    pace = Pace(6)
    lookahead = Lookahead(pace, flow_manager=lambda: None)
    opening = Line(MAX, "flirt", 1, "Hello there, Ava.", drafts=2, time_to_first_audio=4.0, audio_seconds=1.5)
    short = Line(AVA, "flirt", 2, "Hi, Max.", drafts=2, time_to_first_audio=1.0, audio_seconds=1.2)
    await run_test(Pipeline([lookahead, Output([])]), frames_to_send=[LineFrame(opening)])
    assert pace.drafts(6, lookahead.playing) == FEWEST  # a cold opening teaches nothing
    await run_test(Pipeline([lookahead, Output([])]), frames_to_send=[LineFrame(short)])
    assert lookahead.playing == 1.2
    assert pace.drafts(6, 1.2) == 2  # 1.2 s behind it, at 0.5 s a draft
    assert pace.drafts(6, 3.0) == 6
    stock = Line(MAX, "flirt", 3, FALLBACK_LINES[0], attempts=MAX_ATTEMPTS, drafts=6, time_to_first_audio=9.0, audio_seconds=4.0)
    await run_test(Pipeline([lookahead, Output([])]), frames_to_send=[LineFrame(stock)])
    assert pace.drafts(6, lookahead.playing) == 6  # attempts refused say nothing of a draft's cost


async def test_the_announcer_puts_a_pause_and_a_phase_change_before_lines():
    lines = [Line(MAX, "flirt", 1, "Hi."), Line(AVA, "flirt", 2, "Hello."), Line(MAX, "roast", 3, "Ouch.")]
    down, _ = await run_test(
        Announcer(CAST, pause=0.25, sample_rate=RATE),
        frames_to_send=[LineFrame(line) for line in lines],
    )
    shown = [
        f"{f.message['data']['event']}" if isinstance(f, OutputTransportMessageFrame)
        else f"silence {len(f.audio) / 2 / f.sample_rate:g} s" if isinstance(f, OutputAudioRawFrame)
        else f"line {f.line.turn}"
        for f in down
    ]
    assert shown == [
        "line-started", "line-text", "line 1",  # no pause before the first line
        "silence 0.25 s", "line-started", "line-text", "line 2",
        "silence 0.25 s", "phase-changed", "line-started", "line-text", "line 3",
    ]
    text = down[-2].message["data"]
    assert text == {"event": "line-text", "speaker": MAX, "side": "first", "phase": "roast", "turn": 3, "text": "Ouch."}
    assert down[-4].message["data"] == {"event": "phase-changed", "phase": "roast", "previous": "flirt", "turn": 3}


async def test_line_ended_follows_the_voiced_line_with_its_marks():
    """The voice fills the line's marks while it speaks and sends the line on after its
    last sound; `line-ended` goes just ahead of it, with the marks as they are by then."""
    line = Line(MAX, "flirt", 1, "Hi.", tokens=4, drafts=3)
    line.marks.update(llm_start=1.0, llm_end=2.0, tts_start=2.5, tts_end=3.0)
    audio = OutputAudioRawFrame(bytes(2 * RATE // 10), RATE, 1)
    down, _ = await run_test(LineEnder(), frames_to_send=[audio, TTSStoppedFrame(), LineFrame(line)])
    kinds = [type(f).__name__ for f in down]
    assert kinds == ["OutputAudioRawFrame", "TTSStoppedFrame", "OutputTransportMessageFrame", "LineFrame"]
    assert down[2].message["data"] == {
        "event": "line-ended", "speaker": MAX, "turn": 1, "tokens": 4, "drafts": 3,
        "llm_start": 1.0, "llm_end": 2.0, "tts_start": 2.5, "tts_end": 3.0,
    }


class Clock(FrameProcessor):
    """Notes when each frame comes out of the processor before it."""

    def __init__(self):
        super().__init__()
        self.times: list[tuple[str, float]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        self.times.append((type(frame).__name__, asyncio.get_running_loop().time()))
        await self.push_frame(frame, direction)


async def _noop(action: dict, flow_manager) -> None:
    pass


async def test_playout_holds_a_turn_until_its_audio_has_been_heard():
    clock = Clock()
    audio = bytes(2 * RATE // 10)  # 0.1 s
    await run_test(
        Pipeline([Playout(), clock]),
        frames_to_send=[OutputAudioRawFrame(audio, RATE, 1), FunctionActionFrame({}, _noop)],
    )
    times = dict(clock.times)
    assert times["FunctionActionFrame"] - times["OutputAudioRawFrame"] >= 0.09


def test_the_duel_state_hands_the_cue_over_and_fills_every_flow_placeholder():
    state = DuelState.opening(CAST, DEFAULT_TOPIC, "flirt")
    state.attempt = 3
    state.next_turn()
    assert (state.speaker, state.partner, state.turn, state.phase_turn, state.attempt) == (AVA, MAX, 2, 2, 1)
    state.next_phase("roast")
    assert (state.phase, state.phase_turn, state.turn) == ("roast", 1, 2)
    values = state.placeholders()
    assert {fill("{{ " + key + " }}", values) for key in FLOW_PLACEHOLDERS} == {
        AVA, MAX, DEFAULT_TOPIC, "roast", "2", CAST.first.persona, CAST.second.persona,
    }
