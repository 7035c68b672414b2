"""Alembic's entry point, run by `DuelStore.migrate` on the store's own connection."""

from alembic import context

from local_duel.history.rows import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; Alembic's batch mode does that
)
with context.begin_transaction():
    context.run_migrations()
