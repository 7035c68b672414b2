"""The bundled model's Ollama Modelfile (`models/Modelfile`), read the way Ollama reads it,
so the app can create the model through Ollama's API and recognise its template."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_duel.core.errors import LocalDuelError
from local_duel.core.paths import ROOT

MODELFILE = ROOT / "models" / "Modelfile"


class ModelfileError(LocalDuelError, ValueError):
    """A Modelfile that can't be read; the message names the file and the line."""


@dataclass(frozen=True)
class Modelfile:
    """The parts of an Ollama Modelfile the app uses to create a model through the API."""

    source: str
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def read_modelfile(path: Path = MODELFILE) -> Modelfile:
    """Read FROM, TEMPLATE, SYSTEM and PARAMETER lines the way Ollama's parser does.

    Values may be bare (to the end of the line), "quoted" or \"\"\"triple-quoted\"\"\"; quoted
    values may span lines and keep their text as written: no escapes are processed.
    Repeated PARAMETER stop lines make a list, like Ollama's.
    """
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    commands: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        line_end = text.find("\n", i)
        line_end = len(text) if line_end < 0 else line_end
        line = text[i:line_end].strip()
        if not line or line.startswith("#"):
            i = line_end + 1
            continue
        match = re.match(r"\s*([A-Za-z]+)[ \t]+(?:([A-Za-z0-9_]+)[ \t]+)?", text[i:])
        if not match:
            raise ModelfileError(f"{path}: cannot read the line {line!r}")
        name = match.group(1).lower()
        if name != "parameter" and match.group(2):
            # Only PARAMETER takes a name before its value.
            match = re.match(r"\s*([A-Za-z]+)[ \t]+", text[i:])
        start = i + match.end()
        for quote in ('"""', '"'):
            if text.startswith(quote, start):
                close = text.find(quote, start + len(quote))
                if close < 0:
                    raise ModelfileError(f"{path}: {name.upper()} has no closing {quote}")
                value = text[start + len(quote):close]
                end = text.find("\n", close)
                i = len(text) if end < 0 else end + 1
                break
        else:
            value = text[start:line_end].strip()
            i = line_end + 1
        key = match.group(2) if name == "parameter" else name
        commands.append((key, value))

    source = template = system = None
    parameters: dict[str, Any] = {}
    for key, value in commands:
        if key == "from":
            source = value
        elif key == "template":
            template = value
        elif key == "system":
            system = value
        elif key == "stop":
            parameters.setdefault("stop", []).append(value)
        elif key in {"license", "adapter", "message"}:
            continue
        else:
            parameters[key] = _number(value)
    if not source:
        raise ModelfileError(f"{path} has no FROM line")
    return Modelfile(source, template, system, parameters)


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)
