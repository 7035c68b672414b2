"""The README's settings table is the settings' own descriptions, never a second copy."""

import re

import pytest
from pydantic import ValidationError

from local_duel.core.paths import ROOT
from local_duel.core.settings import Settings, table


def test_the_readme_table_is_what_local_duel_settings_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, re.DOTALL)
    assert block, "README.md lost its settings markers"
    assert block.group(1) == table(), "the README's settings table drifted: paste `local-duel settings` between the markers"


def test_every_setting_is_described_with_its_variable_and_default():
    rows = table().splitlines()[2:]
    assert len(rows) == len(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert field.description and field.description.strip(), f"{name} has no description"
    assert "| `LOCAL_DUEL_DRAFTS` | `2` |" in table()
    assert "| `LOCAL_DUEL_MODELS_DIR` | `models/` |" in table()  # a path under the repository, not this machine's


def test_a_renamed_setting_is_refused_by_its_new_name(monkeypatch):
    monkeypatch.setenv("LOCAL_DUEL_CANDIDATES", "4")
    with pytest.raises(ValidationError, match="LOCAL_DUEL_CANDIDATES is now called LOCAL_DUEL_DRAFTS"):
        Settings()
