"""glibc's allocator, kept to two arenas, and told to give back what Piper freed.

Piper's decoder allocates tens of megabytes per sentence, in whichever worker thread
speaks it, and by default glibc gives each such thread an arena of its own that keeps
what it freed. Two arenas bound that: in one probe the server's peak above its idle
280 MB went from 248 to 173 MB during one duel, and from 747 to 286 MB during four at
once, at no cost in speed. Mapping every large block instead (so that freeing
it returns it) saved more memory again but made Piper 40–50% slower per second of speech,
and CPU, not memory, is what limits duels at once on a small machine. Trimming once a
line is spoken returns the same memory at the cost of one pass over the arenas.
"""

import ctypes
import functools
import sys

M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h
ARENAS = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc; None for musl and others (their allocator, their
    defaults)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def lean() -> bool:
    """Apply the setting above; False where the C library isn't glibc."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, ARENAS))


def give_back() -> None:
    """Return the pages every arena holds free to the system (glibc's malloc_trim)."""
    if libc := _glibc():
        libc.malloc_trim(0)
