"""Votes: who the audience thinks is winning. One vote per viewer, which they may change."""

from typing import Literal

Side = Literal["first", "second"]
SIDES: tuple[Side, ...] = ("first", "second")


class VoteRefused(ValueError):
    """A vote for something that isn't a side."""


class Votes:
    def __init__(self):
        self._by_viewer: dict[str, Side] = {}

    def cast(self, viewer: str, side: object) -> None:
        if side not in SIDES:
            raise VoteRefused(f"vote for 'first' or 'second', not {side!r}")
        self._by_viewer[viewer] = side

    def tally(self) -> dict[str, int]:
        counts = dict.fromkeys(SIDES, 0)
        for side in self._by_viewer.values():
            counts[side] += 1
        return counts

    def winner(self) -> Side | None:
        """The side with more votes; None for a tie (no votes is a tie)."""
        first, second = self.tally().values()
        return None if first == second else "first" if first > second else "second"
