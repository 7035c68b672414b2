"""`local-duel bench quality`: what the agents say, on scenes no training saw.

Every duel runs through the same pipeline and turn-taking code as a real one (Flows,
Prompter, LLM, LineEditor), on the bundled model, without the voices. The scenes are
`bench/held_out/scenes.yaml`: flows, casts and topics of the corpus's held-out split,
which no training, prompt or ranker change looks at; those changes are tried on
`bench/dev/` (`--scenes bench/dev`) instead. It writes `quality.json` (per line
and in total) and prints the table the README shows.
"""

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from local_duel.bench.metrics import Yardstick, judge, summarise
from local_duel.core import weights
from local_duel.core.paths import ROOT
from local_duel.core.settings import Settings
from local_duel.engine import Engine, engine_for
from local_duel.pipeline.duel import Duel
from local_duel.pipeline.line import Line
from local_duel.pipeline.meaning import encoder
from local_duel.show.cast import Cast
from local_duel.show.flow import DuelFlow, load_flow

HELD_OUT = ROOT / "bench" / "held_out"
# The settings that make a system, kept with its lines (`bench read` names systems by them).
SYSTEM = ("llm_model", "adapter", "temperature", "max_tokens", "drafts", "drafts_at_once", "moves",
          "nudge", "nudge_persona", "meaning", "presence_penalty", "frequency_penalty", "repeat_penalty")
SEEDS = [11]
TARGETS = {
    "topic_rate": "≥ 0.50",
    "persona_rate": "≥ 0.25",
    "phase_adherent_rate": "≥ 0.70",
    "phase_words_rate": "—",
    "generic_rate": "≤ 0.10",
    "stuffed_rate": "≤ 0.05",
    "profane_rate": "0 (family)",
    "first_try_rate": "—",
    "stock_rate": "≤ 0.01",
    "repeats": "0",
    "echo_rate": "≤ 0.05",
    "distinct_2": "≥ 0.75",
    "mean_words": "—",
    "within_limit_rate": "≥ 0.80",
}


@dataclass(frozen=True)
class Scene:
    """One held-out duel: its flow, cast and topic."""

    flow: DuelFlow
    cast: Cast
    topic: str

    @property
    def key(self) -> tuple:
        return (self.flow.name, tuple(self.cast.names), self.topic)

    def yardstick(self) -> Yardstick:
        """The duel's topic, personas and per-phase directions: drawing on the topic and
        the personas is the topic and persona metrics' business, not the phases'."""
        return Yardstick(self.topic, {a.name: a.persona for a in self.cast.agents}, self.flow.directions())


def scenes(folder: Path = HELD_OUT) -> list[Scene]:
    """The scenes of `folder/scenes.yaml`, each flow from `folder/flows/` or, failing
    that, the app's own `flows/` (the dev split borrows the default flow)."""
    listed = yaml.safe_load((folder / "scenes.yaml").read_text(encoding="utf-8"))

    def flow(name: str) -> DuelFlow:
        own = folder / "flows" / f"{name}.yaml"
        return load_flow(own if own.exists() else ROOT / "flows" / f"{name}.yaml")

    return [Scene(flow(s["flow"]), Cast.model_validate(s["cast"]), s["topic"]) for s in listed]


async def _one(engine: Engine, flow: DuelFlow, cast: Cast, topic: str, settings: Settings) -> Duel:
    duel = Duel(flow, cast, topic, llm_url=engine.url, voices=None, settings=settings, output=[])

    @duel.worker.event_handler("on_pipeline_started")
    async def on_started(worker, frame):
        duel.begin()

    await duel.run()
    return duel


async def run(out: Path, settings: Settings | None = None, say=print, seeds: list[int] = SEEDS, folder: Path = HELD_OUT) -> dict:
    """Run every scene of `folder` once per seed and write `quality.json` into `out`,
    rewritten after every duel so a long run that is stopped keeps what it measured."""
    settings = settings or Settings()
    began = time.monotonic()
    duels = []
    async with engine_for(settings) as engine:
        await engine.warm()
        for scene in scenes(folder):
            for seed in seeds:
                started = time.monotonic()
                duel = await _one(engine, scene.flow, scene.cast, scene.topic, settings.model_copy(update={"seed": seed}))
                lines = judge(duel.script.lines, scene.yardstick(), encoder(settings.models_dir))
                seconds = time.monotonic() - started
                say(f"{scene.flow.name} · {scene.cast.names} · {scene.topic} · seed {seed}: {len(lines)} lines in {seconds:.1f} s"
                    + (f" · stopped: {duel.error}" if duel.error else ""))
                duels.append({
                    "flow": scene.flow.name, "cast": scene.cast.names, "topic": scene.topic, "seed": seed,
                    "personas": {a.name: a.persona for a in scene.cast.agents},
                    "directions": {p.name: duel.script.direction(p.name) for p in scene.flow.phases},
                    "seconds": round(seconds, 1), "error": duel.error, "lines": lines,
                })
                results = _results(duels, settings, seeds, folder, time.monotonic() - began)
                _write(out, results)
    # The engine has exited: its peak memory and CPU time (its warm-up included) are known now.
    engine, lines = resource.getrusage(resource.RUSAGE_CHILDREN), max(results["summary"]["lines"], 1)
    results["peak_rss_mb"]["engine"] = round(engine.ru_maxrss / 1024, 1)
    results["engine_cpu_seconds_per_line"] = round((engine.ru_utime + engine.ru_stime) / lines, 3)
    _write(out, results)
    return results


def rejudge(out: Path) -> dict:
    """The lines kept in `out/quality.json`, judged again by today's metrics with no LLM:
    a change of metric is compared on the very same lines."""
    results = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    known = {scene.key: scene for scene in scenes(ROOT / results["scenes"] if "scenes" in results else HELD_OUT)}
    for duel in results["duels"]:
        said = [Line(j["speaker"], j["phase"], 0, j["text"], attempts=1 if j["first_try"] else 2, move=j.get("move", ""))
                for j in duel["lines"]]
        duel["lines"] = judge(said, known[(duel["flow"], tuple(duel["cast"]), duel["topic"])].yardstick())
    results |= {"summary": summarise([d["lines"] for d in results["duels"]]), "targets": TARGETS, "rejudged": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write(out, results)
    return results


def _named(folder: Path) -> str:
    """The scenes folder as `rejudge` finds it again: relative to the repo where it can be."""
    return folder.relative_to(ROOT).as_posix() if folder.is_relative_to(ROOT) else str(folder)


def _adapter_sha(settings: Settings) -> str | None:
    """The served adapter's SHA-256, shortened: two runs of the same settings on two
    adapters are two systems to a reading."""
    path = weights.adapter_path(settings.models_dir) if settings.adapter else None
    return weights.sha256(path)[:12] if path else None


def _results(duels: list[dict], settings: Settings, seeds: list[int], folder: Path, seconds: float) -> dict:
    total = summarise([d["lines"] for d in duels])
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "scenes": _named(folder),
        "settings": {**{k: settings.model_dump()[k] for k in SYSTEM}, "adapter_sha256": _adapter_sha(settings)},
        "seeds": seeds,
        "summary": total,
        "duels_stopped": sum(1 for d in duels if d["error"]),
        "seconds_per_line": round(sum(d["seconds"] for d in duels) / max(total["lines"], 1), 3),
        "peak_rss_mb": {"bench": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "engine": None},
        "bench_seconds": round(seconds, 1),
        "targets": TARGETS,
        "duels": duels,
    }


def _write(out: Path, results: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def table(results: dict) -> str:
    """The totals beside their targets, as a Markdown table."""
    rows = [f"| {k} | {v} | {TARGETS[k]} |" for k, v in results["summary"].items() if k in TARGETS]
    rows.append(f"| seconds per line, voices skipped | {results['seconds_per_line']} | — |")
    rows.append(f"| engine CPU-seconds per line | {results.get('engine_cpu_seconds_per_line', '—')} | ≤ 0.8 |")
    rows.append(f"| duels stopped by an error | {results['duels_stopped']} | 0 |")
    return "\n".join(["| metric | measured | target |", "| --- | --- | --- |", *rows])

