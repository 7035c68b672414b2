"""What a GGUF file says about itself: its chat template, if it has one.

A model with a chat template is instruction-tuned and is prompted as a chat through it; a
model without one is a base model and continues the screenplay. Only the header is read:
the `gguf` package's `GGUFReader` maps every tensor too, which takes 14 s for the bundled
file, and a model list must not wait for that.
"""

import functools
import struct
from pathlib import Path
from typing import BinaryIO

from local_duel.core.errors import LocalDuelError

MAGIC = b"GGUF"
CHAT_TEMPLATE = "tokenizer.chat_template"
# GGUF value types (the spec's numbering) → struct format; 8 is a string, 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GGUFError(LocalDuelError, ValueError):
    """Not a GGUF file, or a damaged one; the message names the file."""


def chat_template(path: Path) -> str | None:
    """The chat template in the file's metadata, or None for a base model. Read once per
    version of the file: the model list and every duel's start ask again."""
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read(path: Path, _mtime_ns: int, _size: int) -> str | None:
    try:
        with path.open("rb") as f:
            if f.read(4) != MAGIC:
                raise GGUFError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
            version, _tensors, count = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise GGUFError(f"{path} is GGUF version {version}; llama.cpp reads version 2 and later")
            for _ in range(count):
                key = _string(f)
                kind = _unpack(f, "I")
                if key == CHAT_TEMPLATE and kind == _STRING:
                    return _string(f)
                _skip(f, kind)
    except (struct.error, UnicodeDecodeError, EOFError) as e:
        raise GGUFError(f"{path} is damaged: its metadata can't be read ({e})") from None
    return None


def _unpack(f: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) < size:
        raise EOFError("the file ends inside its metadata")
    return struct.unpack("<" + fmt, data)[0]


def _string(f: BinaryIO) -> str:
    length = _unpack(f, "Q")
    data = f.read(length)
    if len(data) < length:
        raise EOFError("the file ends inside its metadata")
    return data.decode("utf-8")


def _skip(f: BinaryIO, kind: int) -> None:
    if kind in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[kind]), 1)
    elif kind == _STRING:
        f.seek(_unpack(f, "Q"), 1)
    elif kind == _ARRAY:
        item, length = _unpack(f, "I"), _unpack(f, "Q")
        if item in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item]) * length, 1)
        else:
            for _ in range(length):
                _skip(f, item)
    else:
        raise EOFError(f"unknown value type {kind}")
