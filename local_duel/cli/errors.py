"""How every `local-duel` command fails: one red line naming what was wrong, and an exit code."""

import typer


def fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)
