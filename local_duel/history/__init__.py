"""Every duel kept: the store, the recording of a duel as it plays, exports, re-voicing."""
