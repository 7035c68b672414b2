"""`local-duel bench adapter`: the memory our LoRA adapter adds to the engine.

The embedded engine's router runs one llama-server process per model, so the bundled
model with the adapter (`local-duel`) and without it (`local-duel-base`) sit side by side,
each warmed by the same short request: the difference of their memory is the adapter's.
"""

import json
import time
from pathlib import Path

import psutil

from local_duel.core.settings import Settings
from local_duel.core.weights import BASE_SUFFIX
from local_duel.engine.embedded import EmbeddedEngine


async def run(out: Path) -> dict:
    settings = Settings(adapter=True)
    tuned, base = settings.llm_model, settings.llm_model + BASE_SUFFIX
    async with EmbeddedEngine(settings) as engine:
        for model in (tuned, base):
            await engine.warm(model)
        served = {}
        for process in psutil.Process(engine.process.pid).children(recursive=True):
            command = process.cmdline()
            if "--alias" in command:
                memory = process.memory_full_info()
                served[command[command.index("--alias") + 1]] = {
                    "rss_mb": round(memory.rss / 1e6, 1), "uss_mb": round(memory.uss / 1e6, 1), "lora": "--lora" in command}
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "models": served,
        "added_rss_mb": round(served[tuned]["rss_mb"] - served[base]["rss_mb"], 1),
        "added_uss_mb": round(served[tuned]["uss_mb"] - served[base]["uss_mb"], 1),
        "target_mb": 20,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results
