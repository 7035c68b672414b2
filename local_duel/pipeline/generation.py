"""What the engine is asked for each line: how the line is sampled.

The duel (`writer`, `turn`) and the benchmark's direct replay (`bench`) both build their
requests from here, so the benchmark's app-against-direct ratio always compares the
same requests.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local_duel.core.settings import Settings

# One line per turn: stop at the newline before the next speaker's cue.
STOP = ["\n"]

MAX_DRAFTS = 10  # per attempt; the seeds of one attempt's drafts must not reach the next's
RETRY_HEAT = 0.2  # each retry samples this much hotter, to get off a line the model keeps repeating


def penalties(settings: "Settings") -> dict[str, float]:
    """The sampler's penalties on words already said, as the OpenAI API names them
    (llama.cpp's own `repeat_penalty` goes in `engine_options`)."""
    return {"presence_penalty": settings.presence_penalty, "frequency_penalty": settings.frequency_penalty}


def engine_options(settings: "Settings") -> dict:
    """What llama.cpp and Ollama read outside the OpenAI API: the request's extra body."""
    return {"stop": STOP, "repeat_penalty": settings.repeat_penalty}


def seed(base: int, turn: int, attempt: int) -> int:
    """The first draft's seed for a turn's attempt (the others count up from it): a
    retry must not rewrite a rejected line."""
    return base + 100 * turn + MAX_DRAFTS * (attempt - 1)


def temperature(base: float, attempt: int) -> float:
    """Each retry samples hotter than the attempt before it."""
    return base + RETRY_HEAT * (attempt - 1)
