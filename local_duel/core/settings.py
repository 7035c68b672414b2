"""One settings object for the whole app, read from `LOCAL_DUEL_*` environment variables."""

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from local_duel.core.paths import ROOT

PromptStyle = Literal["screenplay", "chat"]
""""screenplay": a base model continues the shared script; "chat": an instruction-tuned
model answers from the speaker's side (`local_duel.engine.prompt_style` tells which)."""

MAX_FLOW_BYTES = 64 * 1024  # a flow file, uploaded or on disk
# Settings renamed: the old name set is refused by name, not silently ignored.
RENAMED = {
    "LOCAL_DUEL_CANDIDATES": "LOCAL_DUEL_DRAFTS",
    "LOCAL_DUEL_FIRST_CANDIDATES": "LOCAL_DUEL_FIRST_DRAFTS",
    "LOCAL_DUEL_CANDIDATES_AT_ONCE": "LOCAL_DUEL_DRAFTS_AT_ONCE",
}


class Settings(BaseSettings):
    """Where the models and flows live, which LLM to talk to, and how to sample it.

    `llm_url` set means an external Ollama-compatible server (Ollama itself, for
    example `http://localhost:11434/v1`); unset means the embedded llama.cpp engine
    serving the bundled model on a free loopback port.
    """

    model_config = SettingsConfigDict(env_prefix="LOCAL_DUEL_")

    # The README's settings table is these descriptions (`local-duel settings`); a test
    # fails if the two drift apart. The comments say why a default is what it is.

    # The engine and its models
    llm_url: str | None = Field(None, description="an Ollama-compatible `/v1` URL; unset starts the embedded engine")
    llm_urls: list[str] = Field([], description=(
        'a pool of OpenAI-compatible servers already serving the model, JSON: `["http://llm-1:8080/v1", …]`; '
        "each duel is seated at one (see Scaling out)"))
    llm_model: str = Field("local-duel", description="the model agents use unless they name their own")
    adapter: bool = Field(True, description=(
        "the embedded engine serves the bundled model with our LoRA adapter as `local-duel`, and untaught as "
        "`local-duel-base`; `false`: only the untaught one, as `local-duel` (see Teaching the model)"))
    prompt_styles: dict[str, PromptStyle] = Field({}, description=(
        'how a model on an external Ollama is prompted, JSON: `{"llama3.2": "chat"}`; '
        "unnamed models are told apart by their template"))
    models_dir: Path = Field(ROOT / "models", description="where the weights live (`local-duel models fetch` fills it)")
    flows_dir: Path = Field(ROOT / "flows", description="where the flows live")
    engine_threads: int = Field(2, description="the embedded engine's CPU threads")
    # Enough for `max_duels` with one line in flight each and a little room; a slot costs about 12 MB.
    engine_slots: int = Field(8, description="its parallel slots: requests served at once, batched together")
    engine_context: int = Field(2048, description="tokens of context per slot: the screenplay window, a long cast, the line")
    # Gemma's 262k-token vocabulary makes llama.cpp's per-batch buffers large: 64 keeps the
    # engine smaller, and in duels (short prompt increments) it was no slower.
    engine_batch: int = Field(64, description="prompt tokens evaluated per batch")
    engine_cache_mb: int = Field(64, description="its host-memory prompt cache, for slots that change hands")
    engine_models_max: int = Field(2, description="GGUFs loaded at once; the least recently used makes room")
    # On a CPU that advertises AMX, repacking moves the weights to AMX tiles, and a VM that
    # doesn't enable the tiles kills the engine on its first matrix product (SIGILL; seen on
    # this project's machines). Off, every CPU runs.
    engine_repack: bool = Field(False, description="llama.cpp's weight repacking (off: some VMs die of it with SIGILL)")
    line_timeout: float = Field(30.0, description=(
        "seconds the LLM may take over one line before the duel ends with an error"))

    # How a line is written
    seed: int = Field(7, description="the sampler's seed: the same duel writes the same lines")
    temperature: float = Field(0.9, description="sampling temperature (each retry of a refused line is a little hotter)")
    max_tokens: int = Field(48, description="the most tokens one draft may take")
    # Two: the taught model needs no long search for a line in its phase, and each draft
    # costs the engine as much as the line spoken (docs/quality.md).
    drafts: int = Field(2, ge=1, le=10, description=(
        "drafts written per line, the best one spoken (1: no ranking); a live duel writes fewer "
        "while the machine can't write them in time"))
    # Nothing is playing yet to hide the opening line's drafts behind: the listener waits for the longest.
    first_drafts: int = Field(2, ge=1, le=10, description="drafts for a duel's opening line")
    drafts_at_once: int = Field(6, ge=1, le=10, description=(
        "on a server that writes one draft per request (Ollama), how many are asked for at once"))
    moves: bool = Field(True, description="each line's cue carries a move picked by code (see Writing a duel)")
    # Off by default: the taught model keeps to its cue without it, and with it stuffs lines
    # with the persona's words ("Night bus driver, you're the bus driver").
    nudge: float = Field(0.0, ge=0, le=10, description=(
        "the logit bias toward the words a cue is about, the topic's and the move's (0: none; the untaught model ran at 3)"))
    nudge_persona: float = Field(0.0, ge=0, le=10, description="…and toward the speaker's persona's words (the untaught model ran at 5)")
    meaning: bool = Field(True, description=(
        "rank a line's drafts by whether their meaning is nearest their own phase's direction "
        "(all-MiniLM-L6-v2 in NumPy, about 60 MB)"))
    # The untaught model loops on its own words without strong penalties (0.5, 0.5, 1.3), but
    # they weigh on every newline too, so the taught model ran past its line's end into word salad.
    presence_penalty: float = Field(0.0, ge=-2, le=2, description="the sampler's penalty on words already in the script")
    frequency_penalty: float = Field(0.0, ge=-2, le=2, description="…and on how often they were said")
    repeat_penalty: float = Field(1.1, ge=0, le=3, description="llama.cpp's and Ollama's own repeat penalty (1: off)")

    # How it sounds
    sample_rate: int = Field(24000, description="the audio's sample rate, in Hz")
    voice_threads: int = Field(1, description="Piper's threads, shared by every duel")
    lookahead: bool = Field(True, description="write and voice the next line while the current one plays")
    pause: float = Field(0.25, description="seconds of silence between speakers")

    # Serving
    host: str = Field("127.0.0.1", description="where `serve` listens")
    port: int = Field(8000, description="…and on which port")
    # Every duel admitted ends with whole lines, but on 2 cores dead air grows past one duel (docs/performance.md).
    max_duels: int = Field(6, description="duels at once at most; past it `POST /api/start` answers 429 with `Retry-After`")
    learn_stage: bool = Field(True, description=(
        "fewer duels at once while lines come late at two drafts: the stage holds what this machine has kept up with"))
    data_dir: Path = Field(ROOT / "data", description="where the history's SQLite database lives")
    database_url: str | None = Field(None, description="the history in another database: `postgresql://user:password@host:5432/db`")
    keep_duels: int | None = Field(None, description="retention: the most duels to keep, the oldest finished going first (unset: all)")
    keep_bytes: int | None = Field(None, description="…and the most bytes of stored audio (unset: all)")
    redis_url: str | None = Field(None, description=(
        "replicas: tickets, the stage, rate limits and the duels' streams in this Redis, `redis://host:6379/0` "
        "(unset: this process keeps them)"))
    replica: str | None = Field(None, description=(
        "this replica's name in the proxy's routing: the WebSocket URLs it hands out carry `replica=<name>`"))

    # Security and limits
    allowed_hosts: list[str] = Field([], description=(
        'host names answered besides loopback and `host`, JSON: `["duel.lan"]` (the allowlist that stops DNS rebinding)'))
    access_code: str | None = Field(None, description="LAN mode (`serve --lan`): the code every request must carry")
    lan_address: str | None = Field(None, description="LAN mode: the address the watch links name")
    upload_max_files: int = Field(32, ge=0, description="uploaded flows kept in flows/uploaded/")
    upload_max_bytes: int = Field(1024 * 1024, ge=0, description="…and their total size, in bytes")
    upload_max_file_bytes: int = Field(MAX_FLOW_BYTES, ge=1, le=MAX_FLOW_BYTES, description=(
        "one upload's size, in bytes; no more than any flow may be"))
    client_ready_seconds: float = Field(10.0, gt=0, description="a new socket must send client-ready within this")
    starts_per_minute: int = Field(30, ge=1, description="`POST /api/start` per client address and minute")
    max_turns_per_phase: int = Field(20, ge=1, description="`turns` at most, in a request and in any flow the server loads")

    # The audience
    audience_grace_seconds: float = Field(5.0, ge=0, description="how long a duel goes on once nobody watches")
    viewer_backlog_seconds: float = Field(3.0, gt=0, description="how far a viewer may fall behind before it is cut off")
    heckle_seconds: float = Field(10.0, ge=0, description="how often one viewer may heckle")
    max_viewers: int = Field(200, ge=1, description="viewers one duel takes")

    @model_validator(mode="after")
    def _no_old_names(self) -> "Settings":
        if old := sorted(name for name in RENAMED if name in os.environ):
            raise ValueError("; ".join(f"{name} is now called {RENAMED[name]}" for name in old))
        return self


def table() -> str:
    """Every setting as a Markdown table: its variable, its default and what it does."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `LOCAL_DUEL_{name.upper()}` | {_default(field.default)} | {field.description} |")
    return "\n".join(rows) + "\n"


def _default(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value.relative_to(ROOT)}/`" if value.is_relative_to(ROOT) else f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"
