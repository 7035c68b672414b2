"""The committed LoRA adapter, for real: it is what its recipe says, the embedded engine
serves the bundled model with it (and untaught beside it), and on held-out scenes the
tuned model's loss is lower than the base model's. Needs the `tune` extra."""

import json

import aiohttp
import torch

from local_duel import ROOT
from local_duel.engine import EmbeddedEngine
from local_duel.models import ADAPTER_FILE, LLM_FILE, RECIPE_FILE, sha256
from local_duel.settings import Settings
from local_duel.tune import corpus, lora_gguf
from local_duel.tune.train import encode, load_model, load_tokenizer, mean_loss

ADAPTER, RECIPE = ROOT / "models" / ADAPTER_FILE, ROOT / "models" / RECIPE_FILE
BASE = ROOT / "models" / LLM_FILE


def recipe() -> dict:
    return json.loads(RECIPE.read_text(encoding="utf-8"))


def test_the_adapter_is_the_one_its_recipe_describes_from_this_corpus():
    made = recipe()
    assert sha256(ADAPTER) == made["adapter_sha256"] and sha256(BASE) == made["base_sha256"]
    assert made["corpus_digest"] == corpus.digest(corpus.CORPUS)  # the corpus it was taught is the one committed
    assert ADAPTER.stat().st_size < 20e6
    _, fields = lora_gguf.read(ADAPTER)
    assert json.loads(fields[lora_gguf.RECIPE_KEY])["held_out_loss"] == made["held_out_loss"]


async def test_the_engine_serves_the_tuned_model_and_the_base_beside_it():
    prompt = {"role": "user", "content": (
        "A live auction. Hamish, an auctioneer, sells a dinosaur egg that might be a potato to Dr. Nakamura.\n\n"
        "(The lot: Hamish presents the lot.)\nHamish (presenting the lot):")}
    said = {}
    async with EmbeddedEngine(Settings(engine_slots=1)) as engine:
        assert {m.name for m in await engine.models()} == {"local-duel", "local-duel-base"}
        async with aiohttp.ClientSession() as http:
            for model in ("local-duel", "local-duel-base"):
                await engine.warm(model)
                body = {"model": model, "max_tokens": 24, "temperature": 0, "seed": 1, "messages": [prompt]}
                async with http.post(f"{engine.url}/chat/completions", json=body) as response:
                    assert response.status == 200, await response.text()
                    said[model] = (await response.json())["choices"][0]["message"]["content"]
    assert said["local-duel"].strip() and said["local-duel-base"].strip()
    assert said["local-duel"] != said["local-duel-base"], said  # greedy, same prompt: only the adapter differs
    async with EmbeddedEngine(Settings(engine_slots=1, adapter=False)) as engine:
        assert [m.name for m in await engine.models()] == ["local-duel"]


def test_the_tuned_model_is_less_surprised_by_held_out_scenes_than_the_base():
    """On two scenes of every held-out flow: the adapter read back from its GGUF into the
    de-quantised model, as llama.cpp would apply it."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    hyper = recipe()["hyperparameters"]
    by_flow: dict[str, list] = {}
    for scene in corpus.load("held_out"):
        by_flow.setdefault(scene.flow, []).append(scene)
    scenes = [s for flow in sorted(by_flow) for s in by_flow[flow][:2]]
    tokenizer = load_tokenizer(BASE)
    pad_id = tokenizer.pad_token_id
    held = [seq for scene in scenes for seq in encode(scene, tokenizer, hyper["max_tokens"])]
    model = get_peft_model(load_model(BASE), LoraConfig(
        r=hyper["r"], lora_alpha=hyper["alpha"], target_modules=hyper["targets"], lora_dropout=0.0, task_type="CAUSAL_LM"))
    base = mean_loss(model, held, hyper["batch_tokens"], pad_id)  # B starts at zero: the base model exactly
    keys = get_peft_model_state_dict(model)
    tensors, _ = lora_gguf.read(ADAPTER)
    named = lora_gguf.names(keys, model.get_base_model().config.num_hidden_layers)
    set_peft_model_state_dict(model, {key: torch.from_numpy(tensors[name].astype("float32")) for key, name in named.items()})
    tuned = mean_loss(model, held, hyper["batch_tokens"], pad_id)
    print(f"held-out loss on {len(scenes)} scenes: base {base:.4f}, tuned {tuned:.4f}")
    assert len(scenes) == 12 and tuned < base - 0.1, (base, tuned)
