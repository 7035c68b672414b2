"""The app's sentence encoder without its weights: it names the command that fetches them
(the encoder itself, on the bundled weights, is in tests/e2e/test_meaning.py)."""

import pytest

from local_duel.core.weights import MEANING_DIR, MissingModelError
from local_duel.pipeline.meaning import Encoder


def test_missing_weights_name_the_fetch_command(tmp_path):
    with pytest.raises(MissingModelError, match="local-duel models fetch"):
        Encoder(tmp_path / MEANING_DIR)
