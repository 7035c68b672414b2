"""The show as the user composes it: the cast, the flow and its phases, the moves each
line is written to, and the content rating."""
