"""The app as a good citizen of an Ollama installation.

Generation goes through Pipecat's `OLLamaLLMService` on Ollama's OpenAI-compatible `/v1`
API, like every other engine. What only Ollama has is handled here with the official
`ollama` client on its native API: is the server there, does it have each agent's model,
create the bundled model from the GGUF if it is missing (no internet: the weights are
uploaded from `models/`, never pulled), which models can a user pick, and how each one
wants to be prompted.

Run as `python -m local_duel.ollama provision` it creates the bundled model and exits;
compose.yaml runs that as the one-shot `ollama-init` service before the app starts.
"""

import asyncio
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from ollama import AsyncClient, ResponseError

from local_duel.settings import ROOT, Settings

PromptStyle = Literal["screenplay", "chat"]
"""How a model is prompted: "screenplay" (a base model continues the shared script) or
"chat" (an instruction-tuned model answers from the speaker's side). The same values as
`local_duel.script.View`, spelled out here so provisioning does not import Pipecat."""

BUNDLED_MODEL = "local-duel"
MODELFILE = ROOT / "models" / "Modelfile"
PROVISION_COMMAND = "python -m local_duel.ollama provision"
COMPOSE_PROVISION_COMMAND = "docker compose run --rm ollama-init"

# How long to wait for an answer: a listing is instant, creating a model parses the GGUF.
QUICK_SECONDS = 10.0
CREATE_SECONDS = 600.0

# Ollama's library names base (pre-trained, not instruction-tuned) builds "…:text" or
# "…-text"; community builds say "base" or "pt". These read a screenplay, not a chat.
_BASE_NAME = re.compile(r"(^|[-_:/.])(text|base|pt)([-_:.]|$)", re.IGNORECASE)
# Template fragments that only a chat template has: role markers of the common formats.
_CHAT_MARKERS = (
    "<|im_start|>", "<start_of_turn>", "[INST]", "<|start_header_id|>", "<|user|>",
    "<|assistant|>", "<|turn>", "### Instruction", "USER:", "<|system|>",
)
# Ollama's own template for a model created without one.
_PLAIN_TEMPLATES = {"", "{{ .Prompt }}", "{{ .Prompt }}{{ .Response }}"}


class OllamaError(RuntimeError):
    """Something about the Ollama server is wrong; the message says what to do."""


class OllamaUnreachableError(OllamaError):
    """The Ollama server did not answer."""


class ModelNotFoundError(OllamaError):
    """An agent's model is not on the Ollama server."""


@dataclass(frozen=True)
class Modelfile:
    """The parts of an Ollama Modelfile the app uses to create a model through the API."""

    source: str
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OllamaModel:
    """A model the Ollama server has, as the settings form shows it."""

    name: str
    family: str | None
    parameter_size: str | None
    quantization: str | None
    prompt_style: PromptStyle


def api_url(llm_url: str) -> str:
    """Ollama's native API root from the OpenAI-style base URL the duel uses.

    `LOCAL_DUEL_LLM_URL=http://ollama:11434/v1` → `http://ollama:11434`.
    """
    url = llm_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def canonical(name: str) -> str:
    """A model name as Ollama lists it: `llama3.2` is `llama3.2:latest`."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


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
            raise OllamaError(f"{path}: cannot read the line {line!r}")
        name = match.group(1).lower()
        if name != "parameter" and match.group(2):
            # Only PARAMETER takes a name before its value.
            match = re.match(r"\s*([A-Za-z]+)[ \t]+", text[i:])
        start = i + match.end()
        for quote in ('"""', '"'):
            if text.startswith(quote, start):
                close = text.find(quote, start + len(quote))
                if close < 0:
                    raise OllamaError(f"{path}: {name.upper()} has no closing {quote}")
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
        raise OllamaError(f"{path} has no FROM line")
    return Modelfile(source, template, system, parameters)


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def _client(llm_url: str, timeout: float = QUICK_SECONDS) -> AsyncClient:
    return AsyncClient(host=api_url(llm_url), timeout=timeout)


def _unreachable(llm_url: str, error: Exception) -> OllamaUnreachableError:
    return OllamaUnreachableError(
        f"no Ollama answered at {api_url(llm_url)} ({error}); start it (`ollama serve`, or "
        f"`docker compose up` for the bundled stack) or fix LOCAL_DUEL_LLM_URL"
    )


async def _tags(client: AsyncClient, llm_url: str) -> list:
    try:
        return list((await client.list()).models)
    except (ConnectionError, httpx.HTTPError) as e:
        raise _unreachable(llm_url, e) from None
    except ResponseError as e:
        raise OllamaError(f"the Ollama at {api_url(llm_url)} answered {e}") from None


async def check_server(llm_url: str) -> None:
    """Fail fast, naming the URL, when no Ollama answers there."""
    async with _client(llm_url) as client:
        await _tags(client, llm_url)


async def model_names(llm_url: str) -> list[str]:
    """The names of every model on the server, as Ollama lists them (`name:tag`)."""
    async with _client(llm_url) as client:
        return sorted(m.model for m in await _tags(client, llm_url) if m.model)


async def check_models(llm_url: str, models: Iterable[str]) -> None:
    """Check that every model an agent will use is on the server, before a duel starts.

    Raises `ModelNotFoundError` naming each missing model, the server, and the command
    that fixes it: provisioning for the bundled model, `ollama pull` for any other.
    """
    have = set(await model_names(llm_url))
    missing = sorted({m for m in models if canonical(m) not in have})
    if not missing:
        return
    url = api_url(llm_url)
    fixes = []
    for name in missing:
        if canonical(name) == canonical(BUNDLED_MODEL):
            fixes.append(
                f"model '{name}' not found on the Ollama at {url}; run `{PROVISION_COMMAND}` "
                f"(with Docker: `{COMPOSE_PROVISION_COMMAND}`) to create it from the bundled GGUF"
            )
        else:
            fixes.append(
                f"model '{name}' not found on the Ollama at {url}; run `ollama pull {name}` "
                f"on that server (this needs its internet), or pick one it has: "
                f"{', '.join(sorted(have)) or 'none yet'}"
            )
    raise ModelNotFoundError("\n".join(fixes))


async def provision_bundled(
    llm_url: str,
    models_dir: Path,
    *,
    name: str = BUNDLED_MODEL,
    modelfile: Path = MODELFILE,
    say: Callable[[str], None] = print,
) -> bool:
    """Create the bundled model on the server from models/, unless it is already there.

    Skips when a model of that name exists with the same template, so a second start is
    instant. Otherwise uploads the GGUF as a blob (to the server only: nothing is
    downloaded) and creates the model with the Modelfile's template and parameters.
    Returns True if it created the model.
    """
    spec = read_modelfile(modelfile)
    # FROM is relative to the Modelfile, which lives in models/; models_dir may be moved.
    gguf = Path(spec.source) if Path(spec.source).is_absolute() else models_dir / spec.source
    url = api_url(llm_url)
    async with _client(llm_url, CREATE_SECONDS) as client:
        have = {m.model for m in await _tags(client, llm_url)}
        if canonical(name) in have:
            shown = await client.show(name)
            if (shown.template or "") == (spec.template or ""):
                say(f"ok       {name} is on the Ollama at {url}")
                return False
            say(f"updating {name}: its template differs from {modelfile.name}")
        if not gguf.exists():
            raise OllamaError(f"{gguf} is missing; run `local-duel models fetch` to materialise it")
        say(f"upload   {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB) to the Ollama at {url}")
        try:
            digest = await client.create_blob(gguf)
            await client.create(
                name,
                files={gguf.name: digest},
                template=spec.template,
                system=spec.system,
                parameters=spec.parameters or None,
                stream=False,
            )
        except (ConnectionError, httpx.HTTPError) as e:
            raise _unreachable(llm_url, e) from None
        except ResponseError as e:
            raise OllamaError(f"the Ollama at {url} could not create '{name}': {e}") from None
    say(f"created  {name} on the Ollama at {url}")
    return True


def prompt_style(
    name: str,
    *,
    template: str | None = None,
    overrides: Mapping[str, PromptStyle] | None = None,
) -> PromptStyle:
    """How to prompt a model: an explicit setting wins, then what the model says it is.

    The bundled model and base models (named "…:text", "-base", "-pt", or whose template
    is plain text without chat roles) continue a screenplay; anything else is taken to be
    instruction-tuned and gets a chat from the speaker's side.
    """
    for key, style in (overrides or {}).items():
        if canonical(key) == canonical(name):
            return style
    if canonical(name) == canonical(BUNDLED_MODEL) or _BASE_NAME.search(name):
        return "screenplay"
    if template is not None:
        plain = template.strip()
        if plain in _PLAIN_TEMPLATES or plain == _bundled_template():
            return "screenplay"
        if any(marker in template for marker in _CHAT_MARKERS) or ".Messages" in template:
            return "chat"
    return "chat"


def _bundled_template() -> str | None:
    try:
        return (read_modelfile().template or "").strip()
    except (OSError, OllamaError):
        return None


async def model_prompt_style(
    llm_url: str, name: str, overrides: Mapping[str, PromptStyle] | None = None
) -> PromptStyle:
    """`prompt_style` for a model on the server, reading its template from `/api/show`."""
    for key, style in (overrides or {}).items():
        if canonical(key) == canonical(name):
            return style
    async with _client(llm_url) as client:
        try:
            shown = await client.show(name)
        except (ConnectionError, httpx.HTTPError) as e:
            raise _unreachable(llm_url, e) from None
        except ResponseError as e:
            if e.status_code == 404:
                await check_models(llm_url, [name])
            raise OllamaError(f"the Ollama at {api_url(llm_url)} answered {e}") from None
    return prompt_style(name, template=shown.template)


async def list_models(
    llm_url: str, overrides: Mapping[str, PromptStyle] | None = None
) -> list[OllamaModel]:
    """Every model on the server a user could pick for an agent, with its prompt style.

    Embedding-only models are left out: they cannot write a line.
    """
    async with _client(llm_url) as client:
        models = []
        for tag in await _tags(client, llm_url):
            if not tag.model:
                continue
            try:
                shown = await client.show(tag.model)
            except ResponseError:
                continue  # deleted between listing and showing
            except (ConnectionError, httpx.HTTPError) as e:
                raise _unreachable(llm_url, e) from None
            capabilities = shown.capabilities or ["completion"]
            if "completion" not in capabilities:
                continue
            details = tag.details
            models.append(OllamaModel(
                name=tag.model,
                family=details.family if details else None,
                parameter_size=details.parameter_size if details else None,
                quantization=details.quantization_level if details else None,
                prompt_style=prompt_style(tag.model, template=shown.template, overrides=overrides),
            ))
    return sorted(models, key=lambda m: m.name)


async def prepare(
    llm_url: str,
    models: Iterable[str],
    models_dir: Path,
    *,
    provision: bool = True,
    say: Callable[[str], None] = print,
) -> None:
    """Start-up: the server answers, the bundled model is there (created if missing and
    `provision`), and every other model the agents name exists."""
    wanted = set(models)
    if provision and any(canonical(m) == canonical(BUNDLED_MODEL) for m in wanted):
        await provision_bundled(llm_url, models_dir, say=say)
    await check_models(llm_url, wanted)


async def _provision_main(settings: Settings, patience: float = 60.0) -> int:
    if not settings.llm_url:
        print("error: set LOCAL_DUEL_LLM_URL to the Ollama to provision (…/v1)", file=sys.stderr)
        return 2
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            await provision_bundled(settings.llm_url, settings.models_dir, name=settings.llm_model)
            return 0
        except OllamaUnreachableError as e:
            if asyncio.get_running_loop().time() > deadline:
                print(f"error: {e}", file=sys.stderr)
                return 1
            await asyncio.sleep(1)
        except OllamaError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1


def main(argv: list[str] | None = None) -> int:
    """`python -m local_duel.ollama provision`: create the bundled model, then exit."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["provision"]:
        print(f"usage: {PROVISION_COMMAND}", file=sys.stderr)
        return 2
    return asyncio.run(_provision_main(Settings()))


if __name__ == "__main__":
    sys.exit(main())
