"""A whole duel's pipeline, built as the server builds it (which reads the bundled GGUF's
vocabulary for the rating's steering), loads no turn model. The turn-taking processors
themselves, frame by frame, are in tests/unit/test_turn_taking.py."""

from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

from local_duel.core.settings import Settings
from local_duel.pipeline.duel import Duel
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast
from local_duel.show.flow import DEFAULT_FLOW, load_flow


def test_a_duel_loads_no_turn_model(monkeypatch):
    """Nobody speaks into a duel, so Pipecat's default turn detector (a Smart Turn model)
    has nothing to listen to and must not be loaded."""

    def loaded(*_, **__):
        raise AssertionError("a turn model was loaded")

    monkeypatch.setattr(LocalSmartTurnAnalyzerV3, "__init__", loaded)
    settings = Settings(meaning=False, nudge=False, nudge_persona=False)
    duel = Duel(
        load_flow(settings.flows_dir / f"{DEFAULT_FLOW}.yaml"), Cast.from_file(DEFAULT_CAST), DEFAULT_TOPIC,
        llm_url="http://127.0.0.1:9/v1", voices=None, settings=settings, output=[],
    )
    # built whole, in the order a line travels (no voices, no output here), and nothing
    # else in it: no processor of Pipecat's own for turns
    path = [type(p).__name__ for p in duel.pipeline.processors]
    assert path == ["PipelineSource", "LLMUserAggregator", "Prompter", "Writer", "LineDeadline", "LineEditor", "Announcer", "PipelineSink"]
