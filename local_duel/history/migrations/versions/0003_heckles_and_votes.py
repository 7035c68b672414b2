"""The audience's part in a duel: the heckle each line answered, and the final votes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as lines:
        lines.add_column(sa.Column("heckle", sa.Text(), nullable=True))
    with op.batch_alter_table("duels") as duels:
        duels.add_column(sa.Column("votes_first", sa.Integer(), nullable=False, server_default="0"))
        duels.add_column(sa.Column("votes_second", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("duels") as duels:
        duels.drop_column("votes_second")
        duels.drop_column("votes_first")
    with op.batch_alter_table("lines") as lines:
        lines.drop_column("heckle")
