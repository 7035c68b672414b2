"""The app as a good citizen of an Ollama installation.

Generation goes through Pipecat's `OLLamaLLMService` on Ollama's OpenAI-compatible `/v1`
API, like every other engine. What only Ollama has is handled here with the official
`ollama` client on its native API: is the server there, does it have each agent's model,
create the bundled model from the GGUF if it is missing (no internet: the weights are
uploaded from `models/`, never pulled), which models can a user pick, and how each one
wants to be prompted (by the rules of `local_duel.engine.prompt_style`).

`local-duel ollama provision` creates the bundled model and exits; compose.yaml runs
that as the one-shot `ollama-init` service before the app starts.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from ollama import AsyncClient, ResponseError

from local_duel.core.errors import LocalDuelError
from local_duel.core.settings import PromptStyle
from local_duel.core.weights import FETCH_COMMAND
from local_duel.engine.modelfile import MODELFILE, read_modelfile
from local_duel.engine.prompt_style import BUNDLED_MODEL, canonical, prompt_style

PROVISION_COMMAND = "local-duel ollama provision"
COMPOSE_PROVISION_COMMAND = "docker compose run --rm ollama-init"

# How long to wait for an answer: a listing is instant, creating a model parses the GGUF.
QUICK_SECONDS = 10.0
CREATE_SECONDS = 600.0


class OllamaError(LocalDuelError, RuntimeError):
    """Something about the Ollama server is wrong; the message says what to do."""


class OllamaUnreachableError(OllamaError):
    """The Ollama server did not answer."""


class ModelNotFoundError(OllamaError):
    """An agent's model is not on the Ollama server."""


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
            raise OllamaError(f"{gguf} is missing; run `{FETCH_COMMAND}` to materialise it")
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


async def provision(llm_url: str, models_dir: Path, name: str, patience: float = 60.0) -> None:
    """`local-duel ollama provision`: create the bundled model, waiting up to `patience`
    seconds for an Ollama that is still starting (compose starts both at once)."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            await provision_bundled(llm_url, models_dir, name=name)
            return
        except OllamaUnreachableError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)
