"""The nudge toward a cue's words: which words, which tokens, and how much, on a
hand-made lexicon; the Prompter is driven with Pipecat's `run_test`. The lexicon read
from the bundled GGUF is in tests/e2e/test_nudge_vocabulary.py, the Writer's request
carrying the nudge in tests/unit/test_writer.py, and the real engine writing a nudged
word in tests/e2e/test_engine.py.
"""

from pipecat.frames.frames import LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from local_duel.core.settings import Settings
from local_duel.pipeline.duel_state import DuelState
from local_duel.pipeline.frames import CueFrame
from local_duel.pipeline.nudge import cue_words, nudge
from local_duel.pipeline.script import Script
from local_duel.pipeline.turn import Prompter
from local_duel.show.cast import Cast
from local_duel.show.move import hook, plain
from local_duel.show.phase import Phase


def test_a_cue_names_its_content_words_once_without_names_or_stop_words():
    texts = [plain("🐙 octopuses are smarter than cats 🐱"), hook("a smug software engineer who hates cats"),
             "teasing Björn Ødegård about octopuses"]
    assert cue_words(texts, ["Björn Ødegård", "Zoë"]) == (
        "octopuses", "smarter", "cats", "smug", "software", "engineer", "teasing",
    )


def test_a_nudge_raises_each_words_tokens_by_its_bias_and_finds_a_missing_word_by_its_stem():
    known = {"pizza": (5, 6), "octopus": (9,), "smug": (11,)}
    cue = {"pizza": 2.5, "octopuses": 2.5, "unheardof": 2.5, "smug": 4.0}
    assert nudge(cue, known) == {"5": 2.5, "6": 2.5, "9": 2.5, "11": 4.0}
    assert nudge({"smug": 0.0}, known) == {} and nudge({}, known) == {}


async def test_each_cue_nudges_its_topic_its_speakers_persona_and_its_move_each_by_its_own_bias():
    cast = Cast(
        first={"name": "Zoë", "persona": "a retired lighthouse keeper who collects sea glass", "voice": "v"},
        second={"name": "Björn Ødegård", "persona": "a chess prodigy from Tromsø", "voice": "v"},
    )
    roast = Phase("roast", 2, None, ("mocking {{ partner }} about {{ topic }}",))
    prompter = Prompter(Script(), DuelState.opening(cast, "🐙 octopuses rule", "roast"), {n: "screenplay" for n in cast.names},
                        {n: "m" for n in cast.names}, [roast], Settings(nudge=3, nudge_persona=5))
    frames = [LLMContextFrame(LLMContext(messages=[{"role": "developer", "content": "They trade insults."}]))]
    down, _ = await run_test(prompter, frames_to_send=frames)
    [cue] = [f for f in down if isinstance(f, CueFrame)]
    assert cue.line.move == "mocking Björn Ødegård about octopuses rule"
    assert cue.words == {"mocking": 3, "octopuses": 3, "rule": 3, "retired": 5, "lighthouse": 5, "keeper": 5}
