"""Without the bundled weights, the embedded engine names the command that fetches them,
before it starts anything (fetching them is in tests/e2e/test_weights.py)."""

import pytest

from local_duel.core import weights
from local_duel.core.settings import Settings
from local_duel.engine import EmbeddedEngine


async def test_missing_model_names_the_fetch_command(tmp_path):
    with pytest.raises(weights.MissingModelError, match="run `local-duel models fetch`"):
        async with EmbeddedEngine(Settings(models_dir=tmp_path)):
            pass
