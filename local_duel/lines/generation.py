"""What the engine is asked for each line: the prompt's placeholders filled, and how the
line is sampled.

The duel (`writer`, `turn`) and the benchmark's direct replay (`bench`) both build their
requests from here, so the benchmark's app-against-direct ratio always compares the
same requests.
"""

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_duel.settings import Settings

# A `{{ key }}` or `{{ key.sub }}` placeholder, as Pipecat Flows fills it from the
# FlowManager's state; `\{{ key }}` is an escaped, literal one.
PLACEHOLDER = re.compile(r"(?<!\\)\{\{\s*([\w.]+)\s*\}\}")

# One line per turn: stop at the newline before the next speaker's cue.
STOP = ["\n"]

MAX_CANDIDATES = 10  # per attempt; the seeds of one attempt's candidates must not reach the next's
RETRY_HEAT = 0.2  # each retry samples this much hotter, to get off a line the model keeps repeating


def penalties(settings: "Settings") -> dict[str, float]:
    """The sampler's penalties on words already said, as the OpenAI API names them
    (llama.cpp's own `repeat_penalty` goes in `engine_options`)."""
    return {"presence_penalty": settings.presence_penalty, "frequency_penalty": settings.frequency_penalty}


def engine_options(settings: "Settings") -> dict:
    """What llama.cpp and Ollama read outside the OpenAI API: the request's extra body."""
    return {"stop": STOP, "repeat_penalty": settings.repeat_penalty}


def placeholders(text: str) -> list[str]:
    """The keys `text`'s placeholders name, in order."""
    return PLACEHOLDER.findall(text)


def fill(text: str, values: Mapping[str, Any], missing: str | None = None) -> str:
    """`text` with each placeholder replaced from `values`: a key as it is (`speaker.persona`
    in a move's values), else a dotted path into nested values (`first.name` in a flow's
    state), as Flows walks its state. A placeholder `values` don't fill becomes `missing`,
    or, if that is None, a KeyError naming it."""

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key in values:
            return str(values[key])
        current: Any = values
        for part in key.split("."):
            if not isinstance(current, Mapping) or part not in current:
                if missing is None:
                    raise KeyError(key)
                return missing
            current = current[part]
        return str(current)

    return PLACEHOLDER.sub(value, text)


def seed(base: int, turn: int, attempt: int) -> int:
    """The first candidate's seed for a turn's attempt (the others count up from it): a
    retry must not rewrite a rejected line."""
    return base + 100 * turn + MAX_CANDIDATES * (attempt - 1)


def temperature(base: float, attempt: int) -> float:
    """Each retry samples hotter than the attempt before it."""
    return base + RETRY_HEAT * (attempt - 1)
