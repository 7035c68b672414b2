"""Heckles: what a viewer shouts at the stage, and the one that gets into the next line.

A heckle is checked (plain text, at most `MAX_CHARS`, the duel's content rating) and
rate-limited per viewer. The first one accepted waits in the `HeckleBox` until the next
line's prompt takes it, as a stage direction the speaker answers. The box holds one, so
a flood of heckles costs the duel nothing: the rest are refused with a note to whoever
sent them.
"""

import time
from dataclasses import dataclass

from local_duel.show.plain_text import one_line
from local_duel.show.rating import Rating, profane

MAX_CHARS = 140


class HeckleRefused(ValueError):
    """Why a heckle was not taken; `code` names the reason for the page."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def direction(text: str, speaker: str) -> str:
    """The stage direction a heckle becomes in the screenplay."""
    return f'Someone in the audience shouts: "{text}" {speaker} answers the heckler.'


def check(text: object, rating: Rating) -> str:
    """The heckle as it will be read out, or `HeckleRefused` saying what is wrong."""
    if not isinstance(text, str):
        raise HeckleRefused("not-text", f"a heckle is text, not {type(text).__name__}")
    try:
        text = one_line(text).strip()
    except ValueError as e:
        raise HeckleRefused("not-plain-text", f"the heckle {e}") from None
    if not text:
        raise HeckleRefused("empty", "the heckle is empty")
    if len(text) > MAX_CHARS:
        raise HeckleRefused("too-long", f"a heckle has at most {MAX_CHARS} characters, this one {len(text)}")
    if rating == "family" and profane(text):
        raise HeckleRefused("rating", "this duel is rated family: keep the heckle clean")
    return text


class HeckleRate:
    """One heckle per viewer every `seconds`."""

    def __init__(self, seconds: float):
        self._seconds = seconds
        self._last: dict[str, float] = {}

    def admit(self, viewer: str) -> None:
        now = time.monotonic()
        wait = self._last.get(viewer, -self._seconds) + self._seconds - now
        if wait > 0:
            raise HeckleRefused("rate-limited", f"one heckle every {self._seconds:g} s; try again in {wait:.0f} s")
        self._last[viewer] = now


@dataclass
class Heckle:
    text: str
    viewer: str


class HeckleBox:
    """At most one heckle waiting for the next line."""

    def __init__(self):
        self._waiting: Heckle | None = None

    def offer(self, heckle: Heckle) -> None:
        if self._waiting is not None:
            raise HeckleRefused("one-per-line", "another heckle was taken for the next line; one per line, try again after it")
        self._waiting = heckle

    def take(self) -> str | None:
        """The waiting heckle's text, for the next line's prompt; the box is then free."""
        heckle, self._waiting = self._waiting, None
        return heckle.text if heckle else None
