"""A line out loud and on the wire: the voices, lookahead, and the duel's events."""
