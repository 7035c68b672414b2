"""The history's tables: one row per duel (with its audience's votes), one row per
spoken line (with the heckle it answered), and a finished duel's whole sound.

Each line carries its own Ogg/Opus audio, so a line and its sound are committed together,
as the line is spoken, and a duel cut off mid-way keeps both. Once the duel is over its
lines' audio is put together into one Ogg/Opus (see audio.py), kept in `duel_audio`,
and the lines' own copies are cleared.
"""

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints: Alembic can then alter and drop them on every database alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database: SQLite keeps no time zone of its own."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return value.astimezone(UTC) if value else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


class DuelRow(Base):
    """A duel's settings, status and totals. `search_*` hold case-folded copies of the
    topic and the names, so filtering is Unicode-aware on SQLite as on PostgreSQL."""

    __tablename__ = "duels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    flow: Mapped[str] = mapped_column(String(64))
    flow_snapshot: Mapped[str] = mapped_column(Text)
    cast: Mapped[dict] = mapped_column(JSON)
    topic: Mapped[str] = mapped_column(Text)
    turns: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict] = mapped_column(JSON)  # models, sampling, pause, sample rate
    source_id: Mapped[str | None] = mapped_column(ForeignKey("duels.id", ondelete="SET NULL"))
    search_topic: Mapped[str] = mapped_column(Text)
    search_cast: Mapped[str] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    audio_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # Who runs it, and until when that claim holds: a duel whose owner stops renewing
    # (killed) is marked interrupted by the next server to look.
    owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    # The audience's votes when the duel ended.
    # (server defaults only: a duel begun on an older schema must not name these columns)
    votes_first: Mapped[int] = mapped_column(Integer, server_default="0")
    votes_second: Mapped[int] = mapped_column(Integer, server_default="0")


class LineRow(Base):
    """One spoken line: who, when in the duel's audio, its timings, and its Ogg/Opus."""

    __tablename__ = "lines"

    duel_id: Mapped[str] = mapped_column(ForeignKey("duels.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based, in speaking order
    speaker: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    phase: Mapped[str] = mapped_column(String(64))
    turn: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    voice: Mapped[str] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    start_seconds: Mapped[float] = mapped_column(Float)  # where it begins in the duel's audio
    audio_seconds: Mapped[float] = mapped_column(Float)
    time_to_first_token: Mapped[float | None] = mapped_column(Float)
    time_to_first_audio: Mapped[float | None] = mapped_column(Float)
    spoken_at: Mapped[datetime]
    heckle: Mapped[str | None] = mapped_column(Text)  # the audience's heckle this line answered
    audio: Mapped[bytes | None] = mapped_column(LargeBinary)  # cleared once the whole duel's is kept


class DuelAudioRow(Base):
    """A finished duel's whole sound as one Ogg/Opus, built once from its lines."""

    __tablename__ = "duel_audio"

    duel_id: Mapped[str] = mapped_column(ForeignKey("duels.id", ondelete="CASCADE"), primary_key=True)
    ogg: Mapped[bytes] = mapped_column(LargeBinary)

