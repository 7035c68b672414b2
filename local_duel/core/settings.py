"""One settings object for the whole app, read from `LOCAL_DUEL_*` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from local_duel.core.paths import ROOT

PromptStyle = Literal["screenplay", "chat"]
""""screenplay": a base model continues the shared script; "chat": an instruction-tuned
model answers from the speaker's side (`local_duel.engine.prompt_style` tells which)."""

MAX_FLOW_BYTES = 64 * 1024  # a flow file, uploaded or on disk


class Settings(BaseSettings):
    """Where the models and flows live, which LLM to talk to, and how to sample it.

    `llm_url` set means an external Ollama-compatible server (Ollama itself, for
    example `http://localhost:11434/v1`); unset means the embedded llama.cpp engine
    serving the bundled model on a free loopback port.
    """

    model_config = SettingsConfigDict(env_prefix="LOCAL_DUEL_")

    models_dir: Path = ROOT / "models"
    flows_dir: Path = ROOT / "flows"
    llm_url: str | None = None
    # A pool of OpenAI-compatible servers instead (LOCAL_DUEL_LLM_URLS as JSON, e.g.
    # ["http://llm-1:8080/v1", "http://llm-2:8080/v1"]): llama-server instances or Ollama,
    # already serving the model; each duel is seated at one (local_duel/engine/pool.py).
    llm_urls: list[str] = []
    llm_model: str = "local-duel"
    # The embedded engine serves the bundled model with the LoRA adapter we trained on the
    # duel corpus (models/adapter/, `local-duel tune`), and untaught beside it as
    # `local-duel-base` for an agent to choose. Off: the untaught model alone.
    adapter: bool = True
    # How a model on an external Ollama is prompted, e.g. {"llama3.2": "chat"}
    # (LOCAL_DUEL_PROMPT_STYLES as JSON); unnamed models are told apart by their template.
    prompt_styles: dict[str, PromptStyle] = {}
    engine_threads: int = 2
    # Parallel slots in the embedded engine: requests it serves at once, each with its
    # own KV cache, batched together. Enough for `max_duels` with one line in flight each
    # and a little room; more slots cost about 12 MB each.
    engine_slots: int = 8
    engine_context: int = 2048  # tokens per slot: the screenplay window, a long cast, the line
    # Prompt tokens evaluated per batch. Gemma's 262k-token vocabulary makes llama.cpp's
    # per-batch buffers large: 64 keeps the engine smaller, and in duels (short prompt
    # increments) it was no slower.
    engine_batch: int = 64
    engine_cache_mb: int = 64  # host-memory prompt cache for slots that change hands
    # llama.cpp's weight repacking. On a CPU that advertises AMX it moves the weights to
    # AMX tiles, and a VM that doesn't enable the tiles kills the engine on its first
    # matrix product (SIGILL; seen on this project's machines). Off, every CPU runs.
    engine_repack: bool = False
    engine_models_max: int = 2  # GGUFs loaded at once; the least recently used makes room
    # Duels at once at most; past this `POST /api/start` answers 429. Every duel admitted
    # ends with whole lines, but on 2 cores dead air grows past one duel (README, Performance).
    max_duels: int = 6
    # …and fewer while lines come late at two drafts: the stage holds what this machine
    # has kept up with (local_duel.pipeline.pace). Off, it admits `max_duels` whatever comes.
    learn_stage: bool = True
    # Seconds an LLM request may take for one line before the duel ends with an error:
    # an engine that hangs must not leave the audience in silence.
    line_timeout: float = 30.0
    max_tokens: int = 48
    # Sample and rank: candidate lines written per turn, and how many of them are asked
    # for at once (the engine's parallel slots write them side by side). Two: the taught
    # model needs no long search for a line in its phase, and each draft costs the engine
    # as much as the line spoken (README, Teaching the model: Measured).
    candidates: int = Field(2, ge=1, le=10)
    # The opening line's candidates: nothing is playing yet to hide the drafts behind, so
    # the listener waits for the longest of them.
    first_candidates: int = Field(2, ge=1, le=10)
    candidates_at_once: int = Field(6, ge=1, le=10)
    # Each turn's cue carries a move picked by code (local_duel.show.move).
    moves: bool = True
    # …and the words it is about can be made likelier as the model writes: the logit bias
    # on the topic's and the move's words, and on the speaker's persona's
    # (local_duel.pipeline.nudge). Off: the taught model keeps to its cue without it, and with
    # it stuffs lines with the persona's words ("Night bus driver, you're the bus driver").
    nudge: float = Field(0.0, ge=0, le=10)
    nudge_persona: float = Field(0.0, ge=0, le=10)
    # Of the candidates, the ranker favours those nearer in meaning to their own phase's
    # stage direction than to the others' (local_duel.pipeline.meaning, about 60 MB).
    meaning: bool = True
    temperature: float = 0.9
    # Penalties on words already in the script. The untaught model loops on its own words
    # without strong ones (0.5, 0.5, 1.3), but they weigh on every newline too, so the
    # taught model ran past its line's end into word salad; it needs only a light one.
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    repeat_penalty: float = Field(1.1, ge=0, le=3)  # llama.cpp's and Ollama's; 1 is off
    seed: int = 7
    sample_rate: int = 24000
    voice_threads: int = 1  # Piper's threads, shared by every duel
    # Generate the next line while the current one plays (False: one after the other).
    lookahead: bool = True
    # The beat of silence between speakers, in seconds.
    pause: float = 0.25
    host: str = "127.0.0.1"
    port: int = 8000
    # Duel history: SQLite in `data_dir` unless `database_url` names another database
    # (`postgresql://user:pass@host/db`); see local_duel/history/.
    data_dir: Path = ROOT / "data"
    database_url: str | None = None
    # Replicas (README: "Scaling out"): the Redis they share tickets, the stage and rate
    # limits through (`redis://host:6379/0`); unset, this process keeps them.
    redis_url: str | None = None
    # This replica's name for the proxy (proxy/nginx.conf): the WebSocket URLs it hands
    # out carry `replica=<name>`, so the duel's sockets reach the replica running it.
    replica: str | None = None
    # Retention, oldest first: the most duels, and the most bytes of stored audio, to keep.
    keep_duels: int | None = None
    keep_bytes: int | None = None

    # Security and limits (README: "Security and limits").
    # Host names the server answers to besides loopback and `host`, e.g. ["duel.lan"]
    # (LOCAL_DUEL_ALLOWED_HOSTS as JSON): the Host allowlist that stops DNS rebinding.
    allowed_hosts: list[str] = []
    # LAN mode (`serve --lan`, local_duel/server/lan.py): the code every request must
    # carry, and the address the watch links name.
    access_code: str | None = None
    lan_address: str | None = None
    upload_max_files: int = Field(32, ge=0)  # uploaded flows kept in flows/uploaded/
    upload_max_bytes: int = Field(1024 * 1024, ge=0)  # their total size
    upload_max_file_bytes: int = Field(MAX_FLOW_BYTES, ge=1, le=MAX_FLOW_BYTES)  # one upload; no more than any flow may be
    client_ready_seconds: float = Field(10.0, gt=0)  # a new socket must send client-ready within this
    # The audience (README: "A live audience"): how long a duel goes on once nobody
    # watches, how far a viewer may fall behind before it is cut off, how often one
    # viewer may heckle, and how many may watch one duel.
    audience_grace_seconds: float = Field(5.0, ge=0)
    viewer_backlog_seconds: float = Field(3.0, gt=0)
    heckle_seconds: float = Field(10.0, ge=0)
    max_viewers: int = Field(200, ge=1)
    starts_per_minute: int = Field(30, ge=1)  # `POST /api/start` per client address
    max_turns_per_phase: int = Field(20, ge=1)  # in `turns` of a request, and of any flow the server loads
