"""A finished duel's whole sound, encoded once; its lines then need their own no more.

Putting a duel's audio together from its lines means decoding every line and encoding
the whole again, about a second per minute of duel on a small machine: too slow to do
for each replay. So it is done once, when the duel ends (or when an interrupted duel is
first played), and each line's own audio is then cleared.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duel_audio",
        sa.Column("duel_id", sa.String(32), nullable=False),
        sa.Column("ogg", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["duel_id"], ["duels.id"], name="fk_duel_audio_duel_id_duels", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("duel_id", name="pk_duel_audio"),
    )
    with op.batch_alter_table("lines") as lines:
        lines.alter_column("audio", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    raise NotImplementedError("going back to 0001 would lose the audio of every finished duel")
