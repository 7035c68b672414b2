"""What a GGUF file says about itself, read from its header alone: its chat template (a
model with one is instruction-tuned and is prompted as a chat; one without continues the
screenplay) and its vocabulary (what the rating steers and the nudge favours).

The `gguf` package's `GGUFReader` maps every tensor too: 14 s for the bundled file, and
90 s to list Gemma's 262k-token vocabulary; walking the header takes about a second.
"""

import functools
import mmap
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from local_duel.core.errors import LocalDuelError

MAGIC = b"GGUF"
CHAT_TEMPLATE = "tokenizer.chat_template"
TOKENS = "tokenizer.ggml.tokens"
# GGUF value types (the spec's numbering) → their byte size; 8 is a string, 9 an array.
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


class GGUFError(LocalDuelError, ValueError):
    """Not a GGUF file, or a damaged one; the message names the file."""


def chat_template(path: Path) -> str | None:
    """The chat template in the file's metadata, or None for a base model. Read once per
    version of the file: the model list and every duel's start ask again."""
    stat = path.stat()
    return _chat_template(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _chat_template(path: Path, _mtime_ns: int, _size: int) -> str | None:
    for key, kind, value in _metadata(path):
        if key == CHAT_TEMPLATE and kind == _STRING:
            return value()
    return None


def vocabulary(path: Path) -> Iterator[str]:
    """The model's tokens in id order, one at a time (no list of them is held)."""
    for key, kind, value in _metadata(path):
        if key == TOKENS and kind == _ARRAY:
            yield from value()
            return
    raise GGUFError(f"{path} has no {TOKENS}")


def _metadata(path: Path) -> Iterator[tuple[str, int, Callable]]:
    """Each metadata key with its value type and a function reading its value (a string,
    or an array's items one by one); a value not read is skipped."""
    with path.open("rb") as file:
        if file.read(4) != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                version, _tensors, count = struct.unpack_from("<IQQ", data, 4)
                if version < 2:
                    raise GGUFError(f"{path} is GGUF version {version}; llama.cpp reads version 2 and later")
                at = 24
                for _ in range(count):
                    key, at = _string(data, at)
                    (kind,) = struct.unpack_from("<I", data, at)
                    start = at + 4
                    yield key, kind, functools.partial(_value, data, kind, start)
                    at = _skip(data, kind, start)
            except (struct.error, UnicodeDecodeError, KeyError) as e:
                raise GGUFError(f"{path} is damaged: its metadata can't be read ({e})") from None


def _string(data: mmap.mmap, at: int, errors: str = "strict") -> tuple[str, int]:
    (size,) = struct.unpack_from("<Q", data, at)
    if at + 8 + size > len(data):
        raise struct.error("the file ends inside its metadata")
    return data[at + 8 : at + 8 + size].decode("utf-8", errors), at + 8 + size


def _value(data: mmap.mmap, kind: int, at: int):
    if kind == _STRING:
        return _string(data, at)[0]
    return _items(data, at)


def _items(data: mmap.mmap, at: int) -> Iterator[str | None]:
    """An array's items: strings as text (a token's stray byte replaced), others as None."""
    item, n = struct.unpack_from("<IQ", data, at)
    at += 12
    for _ in range(n):
        text, at = _string(data, at, "replace") if item == _STRING else (None, _skip(data, item, at))
        yield text


def _skip(data: mmap.mmap, kind: int, at: int) -> int:
    if kind == _STRING:
        return _string(data, at)[1]
    if kind == _ARRAY:
        item, n = struct.unpack_from("<IQ", data, at)
        at += 12
        if item in _SCALAR_BYTES:
            return at + n * _SCALAR_BYTES[item]
        for _ in range(n):
            at = _skip(data, item, at)
        return at
    return at + _SCALAR_BYTES[kind]
