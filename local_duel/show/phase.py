"""A phase of the duel: how many turns it lasts and which phase follows.

Both live on the flow node's `take_turn` post-action, so a duel is re-scripted in YAML:

    post_actions:
      - type: function
        handler: take_turn
        turns: 4
        next: roast      # omit on the last phase: the duel ends after its turns
        moves:           # optional: the cues its lines are written to (local_duel.show.move)
          - "teasing {{ partner }} about {{ topic }}"
        rating: adult    # optional, first phase only: the flow's content rating
"""

from dataclasses import dataclass

from local_duel.show.move import check_moves
from local_duel.show.rating import RATINGS

HANDLER = "take_turn"


@dataclass(frozen=True)
class Phase:
    name: str
    turns: int
    next: str | None
    moves: tuple[str, ...] = ()
    rating: str | None = None  # on the first phase only: the flow's content rating


def phase_of(name: str, post_actions: list, max_turns: int | None = None) -> Phase:
    """Read a node's phase from its `take_turn` action; raise ValueError naming what is wrong."""
    actions = [a for a in post_actions if a.type == "function" and a.handler == HANDLER]
    if len(actions) != 1:
        raise ValueError(
            f"node '{name}' needs exactly one post-action `type: function, handler: {HANDLER}` "
            f"with `turns` (found {len(actions)})"
        )
    extras = actions[0].extras()
    turns = extras.get("turns")
    if not isinstance(turns, int) or isinstance(turns, bool) or turns < 1:
        raise ValueError(f"node '{name}': `turns` must be a whole number of at least 1, not {turns!r}")
    if max_turns is not None and turns > max_turns:
        raise ValueError(f"node '{name}': `turns` is {turns}; this server allows at most {max_turns} per phase")
    following = extras.get("next")
    if following is not None and not isinstance(following, str):
        raise ValueError(f"node '{name}': `next` must name a node, not {following!r}")
    rating = extras.get("rating")
    if rating is not None and rating not in RATINGS:
        raise ValueError(f"node '{name}': `rating` must be one of {', '.join(RATINGS)}, not {rating!r}")
    return Phase(name, turns, following, check_moves(name, extras.get("moves")), rating)
