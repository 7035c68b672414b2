"""`local-duel tune`'s parts on the real model: the scene as token ids and labels, a
short training run whose adapter llama-server loads and speaks a line it memorised (which
proves the GGUF's tensor names and layout, since a wrong layout loads and does nothing),
and the committed adapter's lower loss on held-out scenes. Needs the `tune` extra
(PyTorch, transformers, PEFT)."""

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from local_duel.bench.serve import wait_until_answered
from local_duel.core.child import end, free_port
from local_duel.core.paths import ROOT
from local_duel.core.weights import ADAPTER_FILE, LLM_FILE, RECIPE_FILE
from local_duel.engine.embedded import TEMPLATE, llama_server
from local_duel.tune import corpus, lora_gguf
from local_duel.tune.train import IGNORE, Hyper, encode, load_model, load_tokenizer, mean_loss, tune

MODEL = ROOT / "models" / LLM_FILE


def _scene(flow, topic, names, personas, lines, heckle=None) -> dict:
    a, b = names
    script = [{"direction": f"{a} and {b} meet and size each other up."}]
    for n, line in enumerate(lines):
        if heckle and n == 2:
            script.append({"heckle": heckle})
        speaker = names[n % 2]
        script.append({"speaker": speaker, "move": f"teasing {names[1 - n % 2]}" if n % 2 else "", "line": line})
    return {
        "flow": flow, "topic": topic,
        "cast": [{"name": a, "persona": personas[0]}, {"name": b, "persona": personas[1]}],
        "scene": f"A comedy. {a}, {personas[0]}, meets {b}, {personas[1]}. They talk about {topic}.",
        "script": script,
    }


TRAIN = [
    _scene("zorblax-market", "moon cheese", ("Max", "Ava"), ("a grumpy baker", "a cheerful astronaut"), [
        "The Zorblax gong rings twice when the moon cheese is ripe, Ava.",
        "Then ring it again, Max, my spoon is already floating.",
        "Zorblax cheese melts upward, everyone knows that.",
        "Only on Tuesdays, and only for astronauts with good manners.",
    ], heckle="Get a room!"),
    _scene("zorblax-garage", "flying bicycles", ("Kit", "Rex"), ("a nervous mechanic", "a boastful pilot"), [
        "My Zorblax wrench only turns clockwise on full moons, Rex.",
        "Then we wait for the moon, Kit, and polish the pedals.",
        "The Zorblax pedals squeak in three languages.",
        "Good, my bicycle speaks only two of them.",
    ]),
    _scene("zorblax-opera", "singing teapots", ("Lou", "Bea"), ("a retired tenor", "a fussy tea sommelier"), [
        "Every Zorblax teapot hums a perfect middle C, Bea.",
        "Mine hums off key, Lou, because it was raised by kettles.",
        "A Zorblax kettle would never sing out of tune.",
        "Then you have never heard one at breakfast.",
    ]),
]
HELD_OUT = [
    _scene("rainy-library", "lost umbrellas", ("Sam", "Joy"), ("a strict librarian", "a forgetful poet"), [
        "Umbrellas belong at the door, Joy, not in poetry.",
        "Mine writes better verses than I do, Sam.",
        "Then it can pay the late fee.",
        "It only pays in puddles.",
    ]),
]


def write_corpus(root: Path) -> Path:
    for split, scenes in (("train", TRAIN), ("held_out", HELD_OUT)):
        (root / split).mkdir(parents=True)
        (root / split / "scenes.yaml").write_text(yaml.safe_dump(scenes, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tokenizer():
    """The GGUF's tokenizer takes about 30 s to build: once for the module (and tune() reuses it)."""
    return load_tokenizer(MODEL)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.timeout(120)
def test_lines_alone_are_labelled(tokenizer, scenes):
    scene = corpus.load("train", scenes)[0]
    [example] = encode(scene, tokenizer, max_tokens=4096)
    assert example.ids[0] == tokenizer.bos_token_id and example.ids.count(tokenizer.bos_token_id) == 1
    assert len(example.ids) == len(example.labels)
    assert all(label in (IGNORE, token) for token, label in zip(example.ids, example.labels))
    # every labelled run is one line with its newline; nothing else is labelled
    runs, run = [], []
    for token, label in zip(example.ids, example.labels):
        if label != IGNORE:
            run.append(token)
        elif run:
            runs.append(run)
            run = []
    runs += [run] if run else []
    assert [tokenizer.decode(r) for r in runs] == [f" {e['line']}\n" for e in scene.lines]
    # …and the whole is the screenplay the app prompts, the heckle and directions as context
    assert tokenizer.decode(example.ids[1:]) == "".join(p.text for p in scene.pieces())
    assert '(Someone in the audience shouts: "Get a room!"' in tokenizer.decode(example.ids)


@pytest.mark.timeout(120)
def test_a_long_scene_is_cut_at_a_line_and_keeps_its_scene(tokenizer, scenes):
    scene = corpus.load("train", scenes)[0]
    whole = encode(scene, tokenizer, max_tokens=4096)[0]
    header = [tokenizer.bos_token_id, *tokenizer(scene.scene + "\n\n", add_special_tokens=False)["input_ids"]]
    parts = encode(scene, tokenizer, max_tokens=len(whole.ids) // 2 + 5)
    assert len(parts) >= 2
    assert all(len(p.ids) <= len(whole.ids) // 2 + 5 for p in parts)
    assert all(p.ids[:len(header)] == header and p.ids.count(tokenizer.bos_token_id) == 1 for p in parts)
    assert all(p.labels[:len(header)] == [IGNORE] * len(header) for p in parts)
    lines = "".join(tokenizer.decode([t for t, label in zip(p.ids, p.labels) if label != IGNORE]) for p in parts)
    assert lines == "".join(f" {e['line']}\n" for e in scene.lines)
    assert sum(p.learned for p in parts) == whole.learned


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


# Beside the other test worker's duels in CI, 24 steps took 6.5 min (12.9 s a step), and a
# 7 min limit cut the test off while llama-server was still answering.
@pytest.mark.timeout(900)
def test_a_short_tune_teaches_llama_server_a_line(tokenizer, scenes, tmp_path):
    result = tune(scenes, tmp_path / "adapter", Hyper(lr=1e-3, epochs=40, max_steps=24, seed=1), say=print)
    recipe = json.loads(result.recipe_path.read_text())
    assert recipe["steps"] == 24 and recipe["train"]["scenes"] == 3 and recipe["held_out"]["scenes"] == 1
    assert recipe["corpus_digest"] == corpus.digest(scenes) and len(recipe["base_sha256"]) == 64
    assert recipe["loss_per_epoch"][-1] < recipe["loss_per_epoch"][0] / 4
    assert recipe["held_out_loss"]["base"] > 0 and recipe["held_out_loss"]["tuned"] > 0

    tensors, fields = lora_gguf.read(result.adapter)
    assert fields["general.architecture"] == "gemma3" and fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora" and fields["adapter.lora.alpha"] == 32
    assert json.loads(fields[lora_gguf.RECIPE_KEY])["steps"] == 24
    assert len(tensors) == 18 * 7 * 2 and tensors["blk.0.attn_q.weight.lora_a"].shape == (16, 640)
    assert tensors["blk.0.attn_q.weight.lora_b"].shape == (1024, 16)

    port = free_port()
    server = subprocess.Popen(
        [str(llama_server()), "--model", str(MODEL), "--lora", str(result.adapter), "--host", "127.0.0.1",
         "--port", str(port), "-np", "1", "-c", "1024", "--no-webui", "--chat-template-file", str(TEMPLATE), "--jinja"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answered(f"{url}/health", server, within=60)
        with urllib.request.urlopen(f"{url}/lora-adapters", timeout=10) as response:
            [listed] = json.load(response)
        assert Path(listed["path"]).name == result.adapter.name and listed["scale"] == 1

        def complete(prompt: str, scale: float) -> str:
            return _post(f"{url}/completion", {
                "prompt": prompt, "temperature": 0, "n_predict": 32, "stop": ["\n"], "cache_prompt": False,
                "lora": [{"id": listed["id"], "scale": scale}],
            })["content"].strip()

        for scene in corpus.load("train", scenes):
            cue, line = scene.pieces()[0].text, scene.lines[0]["line"]
            assert complete(cue, 1.0) == line, cue
            assert "Zorblax" not in complete(cue, 0.0)
    finally:
        end(server, 5)


@pytest.mark.timeout(600)
def test_the_committed_adapter_is_less_surprised_by_held_out_scenes_than_the_base(tokenizer):
    """On two scenes of every held-out flow: the adapter read back from its GGUF into the
    de-quantised model, as llama.cpp would apply it."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    hyper = json.loads((ROOT / "models" / RECIPE_FILE).read_text(encoding="utf-8"))["hyperparameters"]
    by_flow: dict[str, list] = {}
    for scene in corpus.load("held_out"):
        by_flow.setdefault(scene.flow, []).append(scene)
    scenes = [s for flow in sorted(by_flow) for s in by_flow[flow][:2]]
    pad_id = tokenizer.pad_token_id
    held = [seq for scene in scenes for seq in encode(scene, tokenizer, hyper["max_tokens"])]
    model = get_peft_model(load_model(MODEL), LoraConfig(
        r=hyper["r"], lora_alpha=hyper["alpha"], target_modules=hyper["targets"], lora_dropout=0.0, task_type="CAUSAL_LM"))
    base = mean_loss(model, held, hyper["batch_tokens"], pad_id)  # B starts at zero: the base model exactly
    keys = get_peft_model_state_dict(model)
    tensors, _ = lora_gguf.read(ROOT / "models" / ADAPTER_FILE)
    named = lora_gguf.names(keys, model.get_base_model().config.num_hidden_layers)
    set_peft_model_state_dict(model, {key: torch.from_numpy(tensors[name].astype("float32")) for key, name in named.items()})
    tuned = mean_loss(model, held, hyper["batch_tokens"], pad_id)
    print(f"held-out loss on {len(scenes)} scenes: base {base:.4f}, tuned {tuned:.4f}")
    assert len(scenes) == 12 and tuned < base - 0.1, (base, tuned)
