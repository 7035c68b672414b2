"""Re-voicing in the background, with real Piper voices and a real SQLite history: a copy
is running with no lines when begun, and a server that stops mid-way keeps it as stopped
with the lines it had spoken. (tests/e2e/test_history_server.py re-voices through the API.)"""

import asyncio
from datetime import UTC, datetime

import pytest

from local_duel.core.settings import Settings
from local_duel.core.weights import voices_dir
from local_duel.history.records import NewDuel, StoredLine
from local_duel.history.revoice import NothingToRevoice, Revoicing
from local_duel.history.store import DuelStore
from local_duel.pipeline.voice import UnknownVoiceError, Voices

VOICE = "en_US-joe-medium"


@pytest.fixture
async def store(tmp_path):
    store = await DuelStore.open(Settings(data_dir=tmp_path))
    yield store
    await store.close()


async def stored(store: DuelStore, lines: int) -> str:
    """A complete duel of `lines` lines, as a live one would have been kept."""
    await store.begin(NewDuel(
        id="source", flow="flirt_roast", flow_snapshot="initial_node: flirt\n", topic="Crème brûlée ☕", seed=7,
        cast={"first": {"name": "Zoë", "persona": "p", "voice": VOICE}, "second": {"name": "Ōtani", "persona": "q", "voice": VOICE}},
        settings={"sample_rate": 24000, "pause": 0.25},
    ), owner="test")
    for number in range(1, lines + 1):
        side = "first" if number % 2 else "second"
        await store.add_line("source", StoredLine(
            number=number, speaker="Zoë" if side == "first" else "Ōtani", side=side, phase="flirt", turn=number,
            text=f"Line number {number}, and a few more words to speak.", voice=VOICE, start_seconds=0.0, audio_seconds=1.0, spoken_at=datetime.now(UTC),
        ), b"ogg")
    await store.finish("source", "complete")
    return "source"


async def test_a_copy_begins_running_and_a_stop_keeps_what_was_spoken(store):
    revoicing = Revoicing(store, Voices(voices_dir(Settings().models_dir)), owner="test")
    source = await store.get(await stored(store, 12))
    copy_id = await revoicing.begin(source, {"second": f"{VOICE}@1.35"})
    copy = await store.get(copy_id)
    assert copy.status == "running" and copy.lines == [] and copy.source_id == "source"
    while not (copy := await store.get(copy_id)).lines:
        await asyncio.sleep(0.05)
    await revoicing.close()
    copy = await store.get(copy_id)
    assert copy.status == "stopped" and "server stopped" in copy.error
    assert 1 <= len(copy.lines) < 12
    assert [line.text for line in copy.lines] == [line.text for line in source.lines[: len(copy.lines)]]
    assert copy.cast["second"]["voice"] == f"{VOICE}@1.35"


async def test_nothing_is_stored_for_an_unknown_voice_or_an_empty_duel(store):
    revoicing = Revoicing(store, Voices(voices_dir(Settings().models_dir)), owner="test")
    source = await store.get(await stored(store, 2))
    with pytest.raises(UnknownVoiceError, match="klingon"):
        await revoicing.begin(source, {"first": "klingon"})
    with pytest.raises(NothingToRevoice, match="no lines"):
        await revoicing.begin(source.model_copy(update={"lines": []}), {})
    assert (await store.list_duels()).total == 1
