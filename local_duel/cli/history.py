"""`local-duel history list|show|export|delete`: the duel history from the command line."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from local_duel.cli.errors import fail
from local_duel.core.settings import Settings
from local_duel.history import audio
from local_duel.history.export import EXPORTS, as_markdown
from local_duel.history.records import DuelDetail
from local_duel.history.store import DuelRunningError, DuelStore, HistoryError

app = typer.Typer(help="Stored duels: list, show, export, delete; bench measures the history.", no_args_is_help=True)
T = TypeVar("T")
FORMATS = ("ogg", "wav", *EXPORTS)


def _with_store(work: Callable[[DuelStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await DuelStore.open(Settings())
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except HistoryError as e:
        raise fail(str(e), 1)


async def _get(store: DuelStore, duel_id: str) -> DuelDetail:
    duel = await store.get(duel_id)
    if duel is None:
        raise fail(f"no duel with id '{duel_id}'; `local-duel history list` shows them", 2)
    return duel


def _names(cast: dict) -> str:
    return f"{cast['first']['name']} vs {cast['second']['name']}"


@app.command("list")
def list_duels(
    topic: Annotated[str | None, typer.Option(help="Only duels whose topic contains this (any case).")] = None,
    cast: Annotated[str | None, typer.Option(help="Only duels with an agent whose name contains this.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
):
    """Stored duels, newest first."""
    page = _with_store(lambda store: store.list_duels(limit, offset, topic=topic, cast=cast))
    for duel in page.items:
        typer.echo(
            f"{duel.id}  {duel.created_at:%Y-%m-%d %H:%M}  {duel.status:<11} {duel.audio_seconds:6.1f} s  "
            f"{duel.line_count:3d} lines  {duel.flow}  {_names(duel.cast)}  · {duel.topic}"
        )
    shown = f"{offset + 1}–{offset + len(page.items)}" if page.items else "none"
    typer.echo(f"{shown} of {page.total} duel(s)")


@app.command()
def show(duel_id: str):
    """A duel's settings and every line, as a script."""
    duel = _with_store(lambda store: _get(store, duel_id))
    typer.echo(as_markdown(duel), nl=False)


@app.command()
def export(
    duel_id: str,
    format: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "ogg",
    out: Annotated[Path | None, typer.Option(help="Where to write it (default: duel-ID.FORMAT).")] = None,
):
    """Write a duel's audio (ogg, wav) or transcript (json, vtt, md) to a file."""
    if format not in FORMATS:
        raise fail(f"--format {format!r} is not one of {', '.join(FORMATS)}", 2)
    out = out or Path(f"duel-{duel_id}.{format}")

    async def work(store: DuelStore) -> bytes:
        duel = await _get(store, duel_id)
        if format in EXPORTS:
            return EXPORTS[format][1](duel).encode()
        return await audio.duel_file(store, duel, format)

    data = _with_store(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data) / 1024:.0f} KiB)")


@app.command()
def delete(
    duel_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask first.")] = False,
):
    """Delete a duel, its lines and its audio."""
    duel = _with_store(lambda store: _get(store, duel_id))
    if not yes:
        typer.confirm(f"Delete duel {duel_id} ({_names(duel.cast)}, {duel.topic!r})?", abort=True)

    async def work(store: DuelStore) -> None:
        try:
            await store.delete(duel_id)
        except DuelRunningError as e:
            raise fail(str(e), 1)

    _with_store(work)
    typer.echo(f"deleted {duel_id}")


@app.command()
def bench(
    duels: Annotated[int, typer.Option(min=1, help="How many duels to store.")] = 1000,
    database_url: Annotated[str | None, typer.Option(help="An empty, throwaway database (default: a temporary SQLite).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the results.")] = Path("bench/history.json"),
):
    """Measure the history: storage per minute, keeping a line, listing and opening duels."""
    from local_duel.bench.history import bench as run_bench

    try:
        results = run_bench(duels, database_url, out)
    except HistoryError as e:
        raise fail(str(e), 1)
    for key, value in results.items():
        typer.echo(f"{key:32} {value}")
    typer.echo(f"wrote {out}")
