"""Duels and their spoken lines, each line with its Ogg/Opus audio.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duels",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("flow_snapshot", sa.Text(), nullable=False),
        sa.Column("cast", sa.JSON(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("source_id", sa.String(32), nullable=True),
        sa.Column("search_topic", sa.Text(), nullable=False),
        sa.Column("search_cast", sa.Text(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("audio_bytes", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["duels.id"], name="fk_duels_source_id_duels", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_duels"),
    )
    op.create_index("ix_duels_created_at", "duels", ["created_at"])
    op.create_index("ix_duels_status", "duels", ["status"])
    op.create_table(
        "lines",
        sa.Column("duel_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("phase", sa.String(64), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("voice", sa.String(80), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("time_to_first_token", sa.Float(), nullable=True),
        sa.Column("time_to_first_audio", sa.Float(), nullable=True),
        sa.Column("spoken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["duel_id"], ["duels.id"], name="fk_lines_duel_id_duels", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("duel_id", "number", name="pk_lines"),
    )


def downgrade() -> None:
    op.drop_table("lines")
    op.drop_index("ix_duels_status", table_name="duels")
    op.drop_index("ix_duels_created_at", table_name="duels")
    op.drop_table("duels")
