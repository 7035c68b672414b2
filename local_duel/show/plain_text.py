"""Names, personas and topics: text that goes into the shared screenplay.

The screenplay is "Name: line" text, one line each, so a line break in a topic followed
by "Ava: I give up" would read as a line Ava said. Personas and topics are therefore
folded onto one line (line breaks and tabs become spaces), and any other control
character or a lone surrogate is refused. A name is a speaker's cue: it starts with a
letter of any script (Ødegaard, Łukasz, さくら), may carry emoji ("Max 😀"), and can't
hold a line break or the ':' that ends a cue.
"""

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_REFUSED = {"Cc": "a control character", "Cs": "a lone surrogate", "Zl": "a line separator", "Zp": "a paragraph separator"}
_NAME_CATEGORIES = ("L", "M", "N", "So", "Sk")  # letters, marks, digits, emoji and their modifiers
_NAME_EXTRAS = " .'-\u200d"  # and the zero-width joiner inside emoji sequences


def _refuse_invisible(text: str) -> str:
    for position, char in enumerate(text, 1):
        if what := _REFUSED.get(unicodedata.category(char)):
            raise ValueError(f"has {what} (U+{ord(char):04X}) at character {position}; write plain text")
    return text


def one_line(text: str) -> str:
    """Fold line breaks and tabs into spaces, then refuse any other control character."""
    return _refuse_invisible(_BREAKS.sub(" ", text))


def speaker_name(name: str) -> str:
    """Refuse a name that could not stand as a cue ("Name:") on a line of its own."""
    _refuse_invisible(name)
    if not unicodedata.category(name[0]).startswith("L"):
        raise ValueError(f"must start with a letter, not {name[0]!r}")
    if name[-1] == " ":
        raise ValueError("must not end with a space")
    for char in name:
        if not (char in _NAME_EXTRAS or unicodedata.category(char).startswith(_NAME_CATEGORIES)):
            raise ValueError(f"may hold letters, digits, emoji, spaces and . ' - but not {char!r} (U+{ord(char):04X})")
    return name


OneLine = Annotated[str, AfterValidator(one_line)]
SpeakerName = Annotated[str, AfterValidator(speaker_name)]
