"""Pace: as many drafts a line as the machine can write while the line before it plays.

Sample and rank writes several drafts of each line, and lookahead hides their writing
behind the line that is playing. On a machine too slow for that (or a busy stage), the
next line is not ready when the line playing ends, and the listener hears dead air.
Each duel's Lookahead tells the server's one pace, line by line, how early or late the
next line was ready: a late line costs the lines after it a draft, and two lines in a
row ready with a draft's worth of time to spare give one back, up to the setting. A
draft's worth is the line's preparation time divided by its drafts: a batch of drafts
costs less than that, so a draft given back fits. The pace belongs to the server, not to
a duel, so that a new duel starts at what this machine has shown it can write.

A line also gets no more drafts than fit behind the line that plays meanwhile, at what a
draft has cost lately: each line's time to its first sound divided by its drafts, from
the lines every duel on this server writes behind another (an opening, cold and written
behind nothing, says little of that). A quip of one second hides two drafts, not six:
the second line of every duel, written behind its one-sentence opening, was a lone
duel's dead air. Until a draft's cost is known, a line written behind another gets the
fewest. A line cut short that way and still late says the cost was misjudged, which
its own time corrects, not that the machine writes fewer drafts: it costs the lines
after it nothing, and it does not shrink the stage.

It never goes below two drafts: with one, the ranker has no choice, and about a quarter
of the bundled model's single drafts name the topic, against half of the lines chosen
from four. Fewer than two only comes from a full stage's share of the engine's slots.

The same lines size the stage. A line late at two drafts means the duels running are
more than this machine keeps up with: the stage shrinks to one fewer than are running,
so `POST /api/start` turns new duels away (429) until the load is back within it,
instead of letting one more duel make every other one stall. Two roomy lines in a row
make room for one duel more than are running, up to the setting.
"""

from collections.abc import Callable

from loguru import logger

from local_duel.core.settings import Settings

ROOMY_LINES = 2  # lines in a row with time to spare before a draft is given back
FEWEST = 2  # drafts a line keeps however late lines come


def drafts_each(settings: Settings, duels: int) -> int:
    """Draft lines per turn for each of `duels` duels: the engine's slots shared out,
    so a full stage writes one line per turn rather than queueing behind its own drafts."""
    return max(1, min(settings.drafts, settings.engine_slots // max(1, duels)))


class Pace:
    def __init__(self, most: int, seats: int = 1, running: Callable[[], int] = lambda: 1):
        self._most = most  # the setting
        self._drafts = most  # what the lines so far have shown fits
        self._given = most  # the drafts of the line asked for last
        self._cut = False  # …fewer than that for want of time behind the line playing
        self._per_draft: float | None = None  # seconds a draft has cost lately
        self._roomy = 0
        self._seats = seats  # the stage's setting
        self.stage = seats  # duels this machine has shown it keeps up with
        self._running = running  # duels running now

    @property
    def floor(self) -> int:
        return min(FEWEST, self._most)

    def drafts(self, share: int, behind: float | None = None) -> int:
        """The drafts for the next line, at most `share` (the duel's share of the engine's
        slots), and as many as fit in `behind`, the seconds of the line playing meanwhile."""
        wanted = fit = min(share, self._drafts)
        if behind is not None:  # until a draft's cost is known, the fewest
            fit = max(self.floor, int(behind / self._per_draft) if self._per_draft else 0)
        self._given, self._cut = max(1, min(wanted, fit)), fit < wanted
        return self._given

    def took(self, preparing: float, drafts: int) -> None:
        """A line first sounded `preparing` seconds after it was asked for, from `drafts` drafts."""
        cost = preparing / drafts
        self._per_draft = cost if self._per_draft is None else (self._per_draft + cost) / 2

    def heard(self, slack: float | None, preparing: float) -> None:
        """The next line was ready `slack` seconds before the line playing ended (None: it
        was not), after `preparing` seconds of writing and voicing its first words."""
        was, stage, running = self._drafts, self.stage, self._running()
        if slack is None and self._cut:
            self._roomy = 0
        elif slack is None:
            if self._given <= self.floor:  # no draft left to cut: too many duels
                self.stage = max(1, min(self.stage, running - 1))
            self._drafts, self._roomy = max(self.floor, self._given - 1), 0
        elif slack > preparing / self._given:
            self._roomy += 1
            if self._roomy >= ROOMY_LINES:
                self._drafts, self._roomy = max(self._drafts, min(self._most, self._given + 1)), 0
                self.stage = max(self.stage, min(self._seats, running + 1))
        else:
            self._roomy = 0
        when = "late" if slack is None else f"{slack:.1f} s early"
        if self._drafts != was:
            logger.info(f"{self._drafts} drafts a line: the last line was ready {when}")
        if self.stage != stage:
            logger.info(f"the stage takes {self.stage} duels: with {running} running, the last line was ready {when}")
