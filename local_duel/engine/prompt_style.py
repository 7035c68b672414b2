"""How a model is prompted, and how to tell from its name or chat template.

A base model continues the shared screenplay (`local_duel.pipeline.script`); an instruction-tuned
one answers a chat from the speaker's side. Both engines decide by the same rules: the
embedded one from a GGUF's template, the external one from what Ollama shows. This module
imports nothing heavy, so settings and provisioning can use it without Pipecat.
"""

import re
from collections.abc import Mapping

from local_duel.core.settings import PromptStyle
from local_duel.engine.modelfile import ModelfileError, read_modelfile

BUNDLED_MODEL = "local-duel"

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


def canonical(name: str) -> str:
    """A model name as Ollama lists it: `llama3.2` is `llama3.2:latest`."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


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
    except (OSError, ModelfileError):
        return None
