"""What a line means: which phase's stage direction it is closest to.

Word overlap can't see that "Your nose is so big it has its own weather" is a roast: it
shares no word with "trade savage insults". A small sentence encoder can:
all-MiniLM-L6-v2 (22M parameters, six layers), whose weights `local-duel models fetch`
copies into `models/meaning/`. Its forward pass is a few matrix products, done here in
NumPy with the model's own tokenizer: sentence-transformers would give the same vectors
(tests/e2e/test_meaning.py holds them to it) but bring PyTorch, 2.6 GB installed and some
300 MB resident, into every duel. The ranker picks the draft in its phase with it
and the quality benchmark measures phase adherence with it: the same yardstick.
"""

import json
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from local_duel.core.weights import MEANING_DIR, require

LAYERS, HEADS, WIDTH = 6, 12, 384
MAX_TOKENS = 256  # as sentence-transformers truncates this model
_GELU = math.sqrt(2 / math.pi)  # Python floats: a NumPy float64 would make every product double
_SCALE = 1 / math.sqrt(WIDTH // HEADS)
# Every duel's drafts are judged on this one thread: NumPy's BLAS keeps its buffers per
# calling thread, and asyncio's shared pool would give it a new one now and then (35 MB
# more, measured with six).
THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meaning")
_DTYPES = {"F32": np.float32, "I64": np.int64}  # the bundled file's, checked by its SHA-256


def _mapped(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file's tensors as read-only views of the file, mapped rather than
    read: the pages a duel touches come in as it touches them (of the word table, only the
    rows of words in use), stay shared with every process mapping the same file, and the
    whole file is never resident twice at start-up, as copying it out would make it. The
    format is a length, a JSON header of names, types, shapes and offsets, and the arrays."""
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data = np.memmap(path, np.uint8, mode="r", offset=8 + size)
    tensors = {}
    for name, t in header.items():
        if name != "__metadata__":
            begin, end = t["data_offsets"]
            tensors[name] = data[begin:end].view(_DTYPES[t["dtype"]]).reshape(t["shape"])
    return tensors


class Encoder:
    """all-MiniLM-L6-v2: texts in, unit vectors out (mean-pooled, normalised)."""

    def __init__(self, folder: Path):
        self._w = _mapped(require(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(require(folder / "tokenizer.json")))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._anchor = lru_cache(maxsize=256)(lambda text: self.embed([text])[0])  # directions recur every turn

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text: their dot product is the cosine similarity."""
        w = self._w
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded])
        mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        batch, length = ids.shape

        def linear(x, name):
            return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

        def norm(x, name):
            centred = x - x.mean(-1, keepdims=True)
            return centred / np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-12) * w[f"{name}.weight"] + w[f"{name}.bias"]

        def heads(x):
            return x.reshape(batch, length, HEADS, WIDTH // HEADS).transpose(0, 2, 1, 3)

        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = norm(x, "embeddings.LayerNorm")
        padding = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(LAYERS):
            at = f"encoder.layer.{layer}"
            q, k, v = (heads(linear(x, f"{at}.attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) * _SCALE + padding
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, WIDTH)
            x = norm(x + linear(context, f"{at}.attention.output.dense"), f"{at}.attention.output.LayerNorm")
            h = linear(x, f"{at}.intermediate.dense")
            h = 0.5 * h * (1 + np.tanh(_GELU * (h + 0.044715 * h**3)))  # GELU, to within 1e-3
            x = norm(x + linear(h, f"{at}.output.dense"), f"{at}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def nearest(self, texts: Sequence[str], anchors: Mapping[str, str]) -> list[str]:
        """For each text, the key of the anchor whose meaning is closest to it."""
        if not texts or not anchors:
            return [""] * len(texts)
        keys = list(anchors)
        closeness = self.embed(texts) @ np.stack([self._anchor(anchors[k]) for k in keys]).T
        return [keys[int(i)] for i in closeness.argmax(axis=1)]


@cache
def encoder(models_dir: Path) -> Encoder:
    """The encoder, loaded once per process."""
    return Encoder(models_dir / MEANING_DIR)
