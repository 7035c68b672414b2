"""The base of every error a user can fix: its message names what was wrong and the fix,
so the CLI prints it and exits non-zero, and the API answers with it, without a trace."""


class LocalDuelError(Exception):
    """Something the user can fix; the message says what and how."""
