"""glibc's allocator, kept to two arenas.

Piper's decoder allocates tens of megabytes per sentence, in whichever worker thread
speaks it, and by default glibc gives each such thread an arena of its own that keeps
what it freed. Two arenas bound that: in one probe the server's peak above its idle
280 MB went from 248 to 173 MB during one duel, and from 747 to 286 MB during four at
once, at no cost in speed. Mapping every large block instead (so that freeing
it returns it) saved more memory again but made Piper 40–50% slower per second of speech,
and CPU, not memory, is what limits duels at once on a small machine.
"""

import ctypes
import sys

M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h
ARENAS = 2


def lean() -> bool:
    """Apply the setting above; False where the C library isn't glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and others: their allocator, their defaults
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
