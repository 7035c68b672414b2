"""A flow's and a move's `{{ key }}` placeholders: which keys each may name, and filling them."""

import re
from collections.abc import Mapping
from typing import Any

# A `{{ key }}` or `{{ key.sub }}` placeholder, as Pipecat Flows fills it from the
# FlowManager's state; `\{{ key }}` is an escaped, literal one.
PLACEHOLDER = re.compile(r"(?<!\\)\{\{\s*([\w.]+)\s*\}\}")

# What a flow's prompts may name, each a key of `DuelState.placeholders()`.
FLOW_PLACEHOLDERS = {
    "speaker", "partner", "topic", "phase", "turn",
    "first.name", "first.persona", "second.name", "second.persona",
}
# What a move may name: it is filled per line, from the speaker's side (`MovePicker`).
MOVE_PLACEHOLDERS = {"speaker", "partner", "topic", "speaker.persona", "partner.persona"}


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
