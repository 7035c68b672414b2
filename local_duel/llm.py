"""The LLM endpoint a duel talks to through Pipecat's `OLLamaLLMService`.

With `LOCAL_DUEL_LLM_URL` set that is an external Ollama-compatible server. Without it,
the embedded engine: llama-cpp-python's OpenAI-compatible server, serving the bundled
GGUF on a free loopback port with the screenplay chat template. The engine is a child
process that is stopped when the duel or app ends, and dies with its parent on a crash.
"""

import asyncio
import ctypes
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from loguru import logger

from local_duel import ollama
from local_duel.cast import Cast
from local_duel.models import llm_path
from local_duel.script import View
from local_duel.settings import ROOT, Settings

TEMPLATE = ROOT / "models" / "screenplay.jinja"
STARTUP_SECONDS = 120


class EngineError(RuntimeError):
    """The LLM server could not be started or reached."""


class ModelChoiceError(ValueError):
    """An agent names a model the LLM server doesn't have; `side` is first or second."""

    def __init__(self, side: str, message: str):
        super().__init__(message)
        self.side = side


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the engine if this process dies, even on SIGKILL."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Engine:
    """Async context manager that yields a running OpenAI-compatible base URL (`…/v1`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.llm_url.rstrip("/") if settings.llm_url else ""
        self.process: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None
        self._reviving = asyncio.Lock()

    @property
    def embedded(self) -> bool:
        return not self.settings.llm_url

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def start(self) -> None:
        """Start the embedded engine (or reach the external one) and wait until it answers."""
        if self.embedded:
            self._spawn()
        try:
            await self._wait_healthy()
            if not self.embedded:  # an Ollama: create the bundled model there if it is missing
                await ollama.prepare(self.url, [self.settings.llm_model], self.settings.models_dir, say=logger.info)
        except ollama.OllamaError as e:
            raise EngineError(str(e)) from None
        except BaseException:
            self.stop()
            raise

    def model(self, model: str | None) -> str:
        return model or self.settings.llm_model

    async def models(self) -> list[dict]:
        """The models an agent can use here, each with how it is prompted."""
        if self.embedded:
            return [{"name": self.settings.llm_model, "prompt_style": "screenplay"}]
        try:
            listed = await ollama.list_models(self.url, self.settings.prompt_styles)
        except ollama.OllamaError as e:
            raise EngineError(str(e)) from None
        return [{"name": m.name, "prompt_style": m.prompt_style} for m in listed]

    async def views(self, cast: Cast) -> dict[str, View]:
        """How each agent is prompted: a screenplay for base models, a chat for the rest."""
        views = {}
        for side, agent in (("first", cast.first), ("second", cast.second)):
            model = self.model(agent.model)
            if self.embedded:
                if model != self.settings.llm_model:
                    raise ModelChoiceError(side, (
                        f"agent {agent.name} asks for model '{model}', but the embedded engine serves only "
                        f"'{self.settings.llm_model}'; point LOCAL_DUEL_LLM_URL at an Ollama to use others"
                    ))
                views[agent.name] = "screenplay"
                continue
            try:
                views[agent.name] = await ollama.model_prompt_style(self.url, model, self.settings.prompt_styles)
            except ollama.ModelNotFoundError as e:
                raise ModelChoiceError(side, str(e)) from None
            except ollama.OllamaError as e:
                raise EngineError(str(e)) from None
        return views

    async def __aexit__(self, *exc) -> None:
        self.stop()

    def _spawn(self) -> None:
        gguf = llm_path(self.settings.models_dir)
        self._workdir = tempfile.TemporaryDirectory(prefix="local-duel-engine-")
        workdir = Path(self._workdir.name)
        config = workdir / "tokenizer_config.json"
        config.write_text(json.dumps({
            "chat_template": TEMPLATE.read_text(encoding="utf-8"),
            "bos_token": "<bos>",
            "eos_token": "<eos>",
        }))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf),
            "--model_alias", self.settings.llm_model,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.settings.engine_context),
            "--n_threads", str(self.settings.engine_threads),
            "--n_batch", str(self.settings.engine_batch),
            "--chat_format", "hf-tokenizer-config",
            "--hf_tokenizer_config_path", str(config),
        ]
        self._log = (workdir / "engine.log").open("w+b")
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def _log_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-1500:]

    async def _wait_healthy(self) -> None:
        patience = STARTUP_SECONDS if self.embedded else 10
        deadline = time.monotonic() + patience
        while not await self.healthy():
            if self.process and self.process.poll() is not None:
                raise EngineError(
                    f"the embedded LLM engine exited with code {self.process.returncode}:\n"
                    f"{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                where = "the embedded LLM engine" if self.embedded else "the LLM server"
                raise EngineError(f"{where} at {self.url} did not answer within {patience} s")
            await asyncio.sleep(0.2)

    async def healthy(self) -> bool:
        """Whether the LLM server answers right now."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
                async with client.get(f"{self.url}/models") as response:
                    return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def warm(self) -> None:
        """One token through the chat endpoint, so the first duel doesn't pay for the first eval."""
        body = {"model": self.settings.llm_model, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi:"}]}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:
            async with client.post(f"{self.url}/chat/completions", json=body) as response:
                if response.status != 200:
                    raise EngineError(f"the LLM at {self.url} answered {response.status}: {await response.text()}")

    async def revive(self) -> bool:
        """Restart the embedded engine if it has died (a crash, or killed); True if it had.
        A server keeps serving duels after losing its engine mid-duel."""
        async with self._reviving:  # one restart, however many requests notice at once
            if not self.embedded or (self.process and self.process.poll() is None):
                return False
            logger.warning(f"the embedded engine at {self.url} has stopped; starting a new one")
            self.stop()
            await self.start()
            await self.warm()
            return True

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._workdir:
            self._log.close()
            self._workdir.cleanup()
            self._workdir = None
