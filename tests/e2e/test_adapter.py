"""The committed LoRA adapter, for real: it is what its recipe says, and the embedded
engine serves the bundled model with it (and untaught beside it). That it lowers the
held-out loss is tested in test_tune, in the same worker as the other PyTorch run: two at
once on two cores more than double each. Needs the `tune` extra."""

import json

import aiohttp

from local_duel.core.paths import ROOT
from local_duel.core.settings import Settings
from local_duel.core.weights import ADAPTER_FILE, LLM_FILE, RECIPE_FILE, sha256
from local_duel.engine import EmbeddedEngine
from local_duel.tune import corpus, lora_gguf

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
        assert {m.name for m in await engine.models()} == {"local-duel", "local-duel-base", "smollm2-135m-instruct"}
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
        assert [m.name for m in await engine.models()] == ["local-duel", "smollm2-135m-instruct"]


async def test_the_adapter_adds_a_few_megabytes_to_the_engine(tmp_path):
    """`bench adapter`: the tuned model's engine process against the untaught one's, each
    warmed by the same request; the difference is the adapter's weights and buffers."""
    from local_duel.bench import adapter

    results = await adapter.run(tmp_path)
    served = results["models"]
    assert served["local-duel"]["lora"] and not served["local-duel-base"]["lora"]
    assert all(row["rss_mb"] > row["uss_mb"] > 50 for row in served.values())  # each holds the model itself
    assert 0 < results["added_uss_mb"] < results["target_mb"]  # the f16 adapter is 7.6 MB on disk
    assert json.loads((tmp_path / "adapter.json").read_text()) == results
