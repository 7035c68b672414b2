"""The audience of a live duel: heckles, votes, and the events that keep it in step."""
