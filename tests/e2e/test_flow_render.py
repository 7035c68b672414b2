"""`local-duel render`, in a fresh process, refuses a broken flow, an unknown voice and a
model the embedded engine does not serve, exiting 2 and naming the problem (the flow
files themselves are in tests/unit/test_flow.py)."""

from helpers import ROOT, local_duel
from test_flow import BROKEN


def test_render_exits_2_naming_the_broken_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN["unknown next"][0])
    result = local_duel("render", "--flow", str(path), timeout=60)
    assert result.returncode == 2
    assert str(path) in result.stderr and "names no node" in result.stderr


def test_render_exits_2_on_an_unknown_voice(tmp_path):
    cast = tmp_path / "cast.yaml"
    cast.write_text(
        (ROOT / "flows" / "casts" / "default.yaml").read_text().replace("voice: en_US-joe-medium@1.35", "voice: en_GB-nobody")
    )
    result = local_duel("render", "--cast", str(cast), timeout=60)
    assert result.returncode == 2 and "unknown voice 'en_GB-nobody'" in result.stderr


def test_render_exits_2_on_a_model_the_embedded_engine_does_not_serve(tmp_path):
    cast = tmp_path / "cast.yaml"
    cast.write_text(
        (ROOT / "flows" / "casts" / "default.yaml").read_text().replace("voice: en_US-joe-medium\n", "voice: en_US-joe-medium\n  model: llama3.2\n", 1)
    )
    result = local_duel("render", "--cast", str(cast), "--wav", str(tmp_path / "d.wav"), "--transcript", str(tmp_path / "d.json"), timeout=120)
    assert result.returncode == 2
    assert "cast.first.model" in result.stderr and "no model 'llama3.2' for the embedded engine" in result.stderr
