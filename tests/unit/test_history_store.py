"""The duel store on a SQLite file, in process: tests/e2e/test_history_store_on_postgresql.py
runs the same tests (every one that asks for `database_url`) on a real PostgreSQL."""

import io
from datetime import UTC, datetime, timedelta

import pytest
import soundfile
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, update

from local_duel.core.settings import Settings
from local_duel.history import audio
from local_duel.history.records import NewDuel, StoredLine
from local_duel.history.rows import Base, DuelRow
from local_duel.history.store import DuelRunningError, DuelStore, HistoryError, alembic_config, history_url

NOW = datetime.now(UTC)


def new_duel(duel_id: str, topic: str = "pineapple on pizza", first: str = "Max", second: str = "Ava", **extra) -> NewDuel:
    return NewDuel(
        id=duel_id, flow="flirt_roast", flow_snapshot="initial_node: flirt\n", topic=topic, seed=7,
        cast={"first": {"name": first, "persona": "p", "voice": "v1"}, "second": {"name": second, "persona": "q", "voice": "v2"}},
        settings={"sample_rate": 24000, "pause": 0.25}, **extra,
    )


def spoken(number: int, text: str = "Hello there.", start: float = 0.0, seconds: float = 1.5) -> StoredLine:
    return StoredLine(
        number=number, speaker="Max" if number % 2 else "Ava", side="first" if number % 2 else "second", phase="flirt",
        turn=number, text=text, voice="v1", start_seconds=start, audio_seconds=seconds, spoken_at=NOW,
    )


@pytest.fixture(params=["sqlite"])
def database_url(tmp_path) -> str:
    """A fresh, empty SQLite file (the param names it in test ids, as `[postgresql]` does in e2e)."""
    return f"sqlite:///{tmp_path / 'duels.db'}"


@pytest.fixture
async def store(database_url):
    store = await DuelStore.open(Settings(database_url=database_url))
    yield store
    await store.close()


async def schema_drift(store: DuelStore) -> list:
    async with store.engine.connect() as connection:
        return await connection.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))


async def test_migrations_on_an_empty_database_build_exactly_the_models(store):
    async with store.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"duels", "lines", "alembic_version"} <= tables
    assert await schema_drift(store) == [], "the models and the migrations disagree"


async def test_each_migration_applies_to_the_database_its_predecessor_made(database_url):
    """Upgrade one revision at a time from nothing, storing a duel under each, so every
    migration runs on a database the one before it made, with data in it."""
    store = DuelStore(history_url(Settings(database_url=database_url)))
    try:
        revisions = list(reversed(list(ScriptDirectory.from_config(alembic_config(None)).walk_revisions())))
        assert revisions[0].down_revision is None and len(revisions) >= 2
        for revision in revisions:
            await store.migrate(revision.revision)
            await store.begin(new_duel(f"made-at-{revision.revision}"), owner="test")
            await store.add_line(f"made-at-{revision.revision}", spoken(1, f"said at {revision.revision}"), b"ogg")
        assert await schema_drift(store) == []
        for revision in revisions:
            duel = await store.get(f"made-at-{revision.revision}")
            assert [line.text for line in duel.lines] == [f"said at {revision.revision}"]
            assert await store.line_audio(duel.id) == [(0.0, 1.5, b"ogg")]
    finally:
        await store.close()


async def test_a_duel_is_kept_line_by_line_with_its_audio(store):
    await store.begin(new_duel("d1", topic="Crème brûlée ☕", first="Zoë", second="Ōtani"), owner="me")
    for number, start in ((1, 0.0), (2, 1.75), (3, 3.5)):
        await store.add_line("d1", spoken(number, f"Line {number}: ça va? 日本語", start), f"ogg{number}".encode())
        duel = await store.get("d1")
        assert duel.status == "running" and duel.line_count == number  # committed as it is spoken
    await store.finish("d1", "complete")
    duel = await store.get("d1")
    assert duel.status == "complete" and duel.ended_at is not None and duel.ended_at.tzinfo is not None
    assert duel.topic == "Crème brûlée ☕" and duel.cast["first"]["name"] == "Zoë"
    assert [line.text for line in duel.lines] == [f"Line {n}: ça va? 日本語" for n in (1, 2, 3)]
    assert duel.audio_seconds == pytest.approx(5.0) and duel.audio_bytes == 12
    assert await store.line_audio("d1") == [(0.0, 1.5, b"ogg1"), (1.75, 1.5, b"ogg2"), (3.5, 1.5, b"ogg3")]
    assert await store.get("nope") is None


async def test_the_audience_is_kept_with_the_duel_heckles_by_line_and_the_final_votes(store):
    await store.begin(new_duel("d1"), owner="me")
    await store.add_line("d1", spoken(1, "Hello."), b"ogg1")
    await store.add_line("d1", spoken(2, "Yes, I do.").model_copy(update={"heckle": "Do you like pizza? 🍕"}), b"ogg2")
    await store.finish("d1", "complete", votes={"first": 3, "second": 5})
    duel = await store.get("d1")
    assert [line.heckle for line in duel.lines] == [None, "Do you like pizza? 🍕"]
    assert (duel.votes_first, duel.votes_second) == (3, 5)
    assert (await store.list_duels()).items[0].votes_second == 5


async def test_a_finished_duels_whole_sound_is_kept_once_and_its_lines_copies_cleared(store):
    await store.begin(new_duel("d1"), owner="me")
    await store.add_line("d1", spoken(1), b"line one")
    await store.add_line("d1", spoken(2, start=1.75), b"line two")
    await store.finish("d1", "complete")
    assert await store.whole_audio("d1") is None
    await store.keep_whole_audio("d1", b"the whole duel")
    await store.keep_whole_audio("d1", b"built twice")  # a second request that built it too
    assert await store.whole_audio("d1") == b"the whole duel"
    assert await store.line_audio("d1") == []
    duel = await store.get("d1")
    assert duel.audio_bytes == len(b"the whole duel") and len(duel.lines) == 2
    assert await store.delete("d1") and await store.whole_audio("d1") is None


async def test_list_pages_newest_first_and_filters_ignoring_case_in_any_script(store):
    for number in range(7):
        await store.begin(new_duel(f"d{number}", topic=f"Café {number} 100%", first="Zoë" if number % 2 else "Max"), owner="me")
    page = await store.list_duels(limit=3, offset=0)
    assert page.total == 7 and [d.id for d in page.items] == ["d6", "d5", "d4"]
    assert [d.id for d in (await store.list_duels(limit=3, offset=6)).items] == ["d0"]
    assert {d.id for d in (await store.list_duels(cast="ZOË")).items} == {"d1", "d3", "d5"}
    assert (await store.list_duels(topic="CAFÉ 3")).total == 1
    assert (await store.list_duels(topic="0%")).total == 7  # a literal '%', not a wildcard
    assert (await store.list_duels(topic="_")).total == 0
    assert (await store.list_duels(topic="café", cast="max")).total == 4


async def test_recover_marks_a_dead_servers_duels_interrupted_but_not_a_live_ones(store):
    await store.begin(new_duel("mine"), owner="host serve :8000")
    await store.begin(new_duel("other-alive"), owner="other serve :8000")
    await store.begin(new_duel("other-dead"), owner="dead serve :8000")
    await store.add_line("mine", spoken(1), b"x")
    async with store.engine.begin() as connection:
        await connection.execute(
            update(DuelRow).where(DuelRow.id == "other-dead").values(lease_until=NOW - timedelta(seconds=1))
        )
    assert sorted(await store.recover("host serve :8000")) == ["mine", "other-dead"]
    assert (await store.get("mine")).status == "interrupted" and (await store.get("mine")).line_count == 1
    assert (await store.get("other-alive")).status == "running"
    await store.renew("other serve :8000")
    assert await store.recover() == []  # a renewed claim holds


async def test_delete_takes_the_lines_and_leaves_revoicings_pointing_nowhere(store):
    await store.begin(new_duel("src"), owner="me")
    await store.add_line("src", spoken(1), b"x")
    await store.finish("src", "complete")
    await store.begin(new_duel("copy", source_id="src"), owner="me")
    await store.finish("copy", "complete")
    await store.begin(new_duel("live"), owner="me")
    with pytest.raises(DuelRunningError, match="still running"):
        await store.delete("live")
    assert await store.delete("src") is True
    assert await store.get("src") is None and await store.line_audio("src") == []
    assert (await store.get("copy")).source_id is None
    assert await store.delete("src") is False


async def test_retention_deletes_the_oldest_finished_duels_first(store):
    for number in range(5):
        await store.begin(new_duel(f"d{number}"), owner="me")
        await store.add_line(f"d{number}", spoken(1), b"x" * 100)
        if number != 0:
            await store.finish(f"d{number}", "complete")
    assert await store.prune(None, None) == []
    assert sorted(await store.prune(keep_duels=3, keep_bytes=None)) == ["d1"]  # d0 still runs: kept
    assert await store.prune(keep_duels=None, keep_bytes=250) == ["d2"]
    assert [d.id for d in (await store.list_duels()).items] == ["d4", "d3", "d0"]


@pytest.mark.parametrize("url, words", [
    ("mysql://u@h/db", "'mysql' is not supported"),
    ("not a url", "is not a database URL"),
])
def test_an_unusable_database_url_is_named(url, words):
    with pytest.raises(HistoryError, match=words):
        history_url(Settings(database_url=url))


async def test_an_unreachable_database_is_named_without_its_password():
    with pytest.raises(HistoryError) as failed:
        await DuelStore.open(Settings(database_url="postgresql://duel:s3cret@127.0.0.1:1/duels"))
    assert "127.0.0.1:1/duels" in str(failed.value) and "s3cret" not in str(failed.value)


async def test_a_duel_with_no_lines_has_sound_in_both_formats_not_an_error(store):
    """An engine that failed before the first line leaves a duel with nothing said: its
    WAV is an empty WAV and its Ogg a valid empty stream, not a decoder's error (a 500)."""
    await store.begin(new_duel("empty"), owner="me")
    await store.finish("empty", "failed", "the engine died")
    duel = await store.get("empty")
    wav = await audio.duel_file(store, duel, "wav")
    assert soundfile.info(io.BytesIO(wav)).frames == 0 and soundfile.info(io.BytesIO(wav)).samplerate == 24000
    assert (await audio.duel_file(store, duel, "ogg")).startswith(b"OggS")
