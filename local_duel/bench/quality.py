"""`local-duel bench quality`: what the agents say, over a fixed matrix of duels.

Every duel runs through the same pipeline and turn-taking code as a real one (Flows,
Prompter, LLM, LineEditor), on the bundled model, without the voices. The matrix: the
bundled flow and the bench-only flows in `bench/flows/`, three topics (one with emoji),
two seeds, and three casts in rotation (the default one and the bench-only casts in
`bench/casts/`, with Unicode names and long personas). It writes `bench/quality.json`
(per line and in total) and prints the table the README shows.
"""

import itertools
import json
import resource
import time
from pathlib import Path

from local_duel.bench.metrics import Yardstick, judge, summarise
from local_duel.duel import Duel
from local_duel.engine import Engine, engine_for
from local_duel.lines.line import Line
from local_duel.lines.meaning import encoder
from local_duel.settings import ROOT, Settings
from local_duel.show.cast import DEFAULT_CAST, Cast
from local_duel.show.flow import DEFAULT_FLOW, DuelFlow, load_flow

BENCH = ROOT / "bench"
FLOWS = [ROOT / "flows" / f"{DEFAULT_FLOW}.yaml", BENCH / "flows" / "debate.yaml", BENCH / "flows" / "interview.yaml"]
CASTS = [DEFAULT_CAST, BENCH / "casts" / "lighthouse.yaml", BENCH / "casts" / "poker.yaml"]
TOPICS = ["pineapple on pizza", "tabs versus spaces", "🐙 octopuses are smarter than cats 🐱"]
SEEDS = [7, 8]
TARGETS = {
    "topic_rate": "≥ 0.50",
    "persona_rate": "≥ 0.25",
    "phase_adherent_rate": "≥ 0.70",
    "phase_words_rate": "—",
    "generic_rate": "≤ 0.10",
    "stuffed_rate": "—",
    "profane_rate": "0 (family)",
    "first_try_rate": "—",
    "stock_rate": "≤ 0.01",
    "repeats": "0",
    "echo_rate": "≤ 0.05",
    "distinct_2": "≥ 0.75",
    "mean_words": "—",
}


def yardstick(flow: DuelFlow, cast: Cast, topic: str) -> Yardstick:
    """The duel's topic, personas and per-phase directions: drawing on the topic and the
    personas is the topic and persona metrics' business, not the phases'."""
    return Yardstick(topic, {a.name: a.persona for a in cast.agents}, flow.directions())


def matrix(seeds: list[int] = SEEDS) -> list[tuple[Path, str, int, Path]]:
    """(flow, topic, seed, cast) for every duel; the casts rotate so each flow meets each."""
    runs = []
    for (f, flow), (t, topic), (s, seed) in itertools.product(enumerate(FLOWS), enumerate(TOPICS), enumerate(SEEDS)):
        if seed in seeds:
            runs.append((flow, topic, seed, CASTS[(f + t + s) % len(CASTS)]))
    return runs


async def _one(engine: Engine, flow: DuelFlow, cast: Cast, topic: str, settings: Settings) -> Duel:
    duel = Duel(flow, cast, topic, llm_url=engine.url, voices=None, settings=settings, output=[])

    @duel.worker.event_handler("on_pipeline_started")
    async def on_started(worker, frame):
        duel.begin()

    await duel.run()
    return duel


async def run(out: Path, settings: Settings | None = None, say=print, seeds: list[int] = SEEDS) -> dict:
    """Run the matrix (only the duels of `seeds`) and write `quality.json` into `out`,
    rewritten after every duel so a long run that is stopped keeps what it measured."""
    settings = settings or Settings()
    began = time.monotonic()
    duels = []
    async with engine_for(settings) as engine:
        await engine.warm()
        for flow_path, topic, seed, cast_path in matrix(seeds):
            flow, cast = load_flow(flow_path), Cast.from_file(cast_path)
            started = time.monotonic()
            duel = await _one(engine, flow, cast, topic, settings.model_copy(update={"seed": seed}))
            lines = judge(duel.script.lines, yardstick(flow, cast, topic), encoder(settings.models_dir))
            seconds = time.monotonic() - started
            say(f"{flow.name} · {cast.names} · {topic} · seed {seed}: {len(lines)} lines in {seconds:.1f} s"
                + (f" · stopped: {duel.error}" if duel.error else ""))
            duels.append({
                "flow": flow.name, "cast": cast.names, "topic": topic, "seed": seed,
                "seconds": round(seconds, 1), "error": duel.error, "lines": lines,
            })
            results = _results(duels, settings, seeds, time.monotonic() - began)
            _write(out, results)
    # The engine has exited: its peak memory is known now.
    results["peak_rss_mb"]["engine"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    _write(out, results)
    return results


def rejudge(out: Path) -> dict:
    """The lines kept in `out/quality.json`, judged again by today's metrics with no LLM:
    a change of metric is compared on the very same lines."""
    results = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    flows = {flow.name: flow for flow in map(load_flow, FLOWS)}
    casts = {tuple(cast.names): cast for cast in map(Cast.from_file, CASTS)}
    for duel in results["duels"]:
        said = [Line(j["speaker"], j["phase"], 0, j["text"], attempts=1 if j["first_try"] else 2) for j in duel["lines"]]
        duel["lines"] = judge(said, yardstick(flows[duel["flow"]], casts[tuple(duel["cast"])], duel["topic"]))
    results |= {"summary": summarise([d["lines"] for d in results["duels"]]), "targets": TARGETS, "rejudged": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write(out, results)
    return results


def _results(duels: list[dict], settings: Settings, seeds: list[int], seconds: float) -> dict:
    total = summarise([d["lines"] for d in duels])
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "settings": {k: settings.model_dump()[k] for k in ("temperature", "max_tokens", "candidates", "candidates_at_once", "moves", "nudge", "meaning")},
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
    rows.append(f"| duels stopped by an error | {results['duels_stopped']} | 0 |")
    return "\n".join(["| metric | measured | target |", "| --- | --- | --- |", *rows])

