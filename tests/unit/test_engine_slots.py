"""How the embedded engine's slots are shared out among duels, without the engine (which
runs, for real, in tests/e2e/test_engine.py)."""

from local_duel.core.settings import Settings


async def test_drafts_per_line_share_the_slots_out_as_duels_join():
    """Sample-and-rank asks for several drafts per line; with many duels at once the
    engine's slots are shared out instead, down to one draft, so no duel queues."""
    from local_duel.pipeline.pace import drafts_each

    settings = Settings(engine_slots=8, drafts=4)
    assert [drafts_each(settings, n) for n in (0, 1, 2, 3, 4, 6, 8, 12)] == [4, 4, 4, 2, 2, 1, 1, 1]
