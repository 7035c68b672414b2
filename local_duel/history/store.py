"""The duel store: the history behind one small interface, on SQLite or PostgreSQL.

SQLAlchemy 2's async engine speaks to both (aiosqlite, asyncpg), and Alembic brings the
schema up to date when the store opens, so every app replica sharing one PostgreSQL
shares one history. Everything a duel is lives in the database, its audio included.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from local_duel.core.errors import LocalDuelError
from local_duel.core.settings import Settings
from local_duel.history.records import DuelDetail, DuelPage, DuelSummary, NewDuel, StoredLine
from local_duel.history.rows import DuelAudioRow, DuelRow, LineRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# How long a running duel's claim holds without news from its server; the server renews
# it far more often (see `renew`), so only a dead server's duels outlive it.
LEASE = timedelta(seconds=60)
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
_SUMMARY = [getattr(DuelRow, name) for name in DuelSummary.model_fields]


class HistoryError(LocalDuelError, RuntimeError):
    """The history database can't be reached or understood; the message says which."""


class DuelRunningError(ValueError):
    """The duel is still running, so it can't be deleted or re-voiced yet."""


def history_url(settings: Settings) -> str:
    """The async SQLAlchemy URL: `LOCAL_DUEL_DATABASE_URL`, or SQLite in the data dir."""
    if not settings.database_url:
        return f"sqlite+aiosqlite:///{settings.data_dir / 'duels.db'}"
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        raise HistoryError(f"LOCAL_DUEL_DATABASE_URL is not a database URL: {settings.database_url!r}") from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise HistoryError(f"LOCAL_DUEL_DATABASE_URL: '{backend}' is not supported; use postgresql://… or sqlite:///…")
    return url.set(drivername=_DRIVERS[backend]).render_as_string(hide_password=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _like(text: str) -> str:
    """A case-folded LIKE pattern that matches `text` anywhere, wildcards escaped."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class DuelStore:
    """Duels and their lines: written as they happen, read back for lists and replays."""

    def __init__(self, url: str):
        self.engine: AsyncEngine = create_async_engine(url)
        if self.engine.dialect.name == "sqlite":
            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @classmethod
    async def open(cls, settings: Settings) -> "DuelStore":
        """The store the settings name, its schema brought up to date."""
        store = cls(history_url(settings))
        try:
            await store.migrate()
        except Exception as e:
            await store.close()
            where = store.engine.url.render_as_string(hide_password=True)
            raise HistoryError(f"the duel history at {where} can't be opened: {e}") from e
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def migrate(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to `revision` (head: the current schema)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))

    # --- a duel as it happens ---

    async def begin(self, duel: NewDuel, owner: str) -> None:
        names = [duel.cast["first"]["name"], duel.cast["second"]["name"]]
        async with self.engine.begin() as connection:
            await connection.execute(DuelRow.__table__.insert().values(
                **duel.model_dump(), created_at=_now(), status="running",
                search_topic=duel.topic.casefold(), search_cast="\n".join(names).casefold(),
                line_count=0, audio_seconds=0.0, audio_bytes=0, owner=owner, lease_until=_now() + LEASE,
            ))

    async def add_line(self, duel_id: str, line: StoredLine, audio: bytes) -> None:
        """Keep one spoken line and its audio, in one transaction with the duel's totals."""
        async with self.engine.begin() as connection:
            # unset fields (a line no heckle went with) are left to the database, so a line
            # is kept alike on every schema that has its set fields
            await connection.execute(LineRow.__table__.insert().values(duel_id=duel_id, audio=audio, **line.model_dump(exclude_none=True)))
            await connection.execute(
                update(DuelRow).where(DuelRow.id == duel_id).values(
                    line_count=DuelRow.line_count + 1,
                    audio_seconds=line.start_seconds + line.audio_seconds,
                    audio_bytes=DuelRow.audio_bytes + len(audio),
                    lease_until=_now() + LEASE,
                )
            )

    async def finish(self, duel_id: str, status: str, error: str | None = None, votes: dict[str, int] | None = None) -> None:
        votes = votes or {}
        async with self.engine.begin() as connection:
            await connection.execute(
                update(DuelRow).where(DuelRow.id == duel_id)
                .values(status=status, error=error, ended_at=_now(), owner=None, lease_until=None,
                        votes_first=votes.get("first", 0), votes_second=votes.get("second", 0))
            )

    async def renew(self, owner: str) -> None:
        """Extend the claim on every duel this owner is running."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(DuelRow).where(DuelRow.status == "running", DuelRow.owner == owner)
                .values(lease_until=_now() + LEASE)
            )

    async def recover(self, owner: str | None = None) -> list[str]:
        """Mark as interrupted the duels a dead server left running: any whose claim has
        lapsed (another replica's), and this owner's, which a server calls as it starts
        (they were its own, before a restart)."""
        left = DuelRow.lease_until < _now()
        if owner is not None:
            left = left | (DuelRow.owner == owner)
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(DuelRow)
                .where(DuelRow.status == "running", left)
                .values(status="interrupted", owner=None, lease_until=None)
                .returning(DuelRow.id)
            )
            return list(result.scalars())

    async def interrupt(self, duel_id: str) -> bool:
        """Mark a running duel interrupted at once: its server is known to be gone."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(DuelRow).where(DuelRow.id == duel_id, DuelRow.status == "running")
                .values(status="interrupted", owner=None, lease_until=None)
            )
            return result.rowcount > 0

    # --- reading ---

    async def list_duels(self, limit: int = 20, offset: int = 0, topic: str | None = None, cast: str | None = None) -> DuelPage:
        """Newest first; `topic` and `cast` match anywhere, ignoring case."""
        where = []
        if topic:
            where.append(DuelRow.search_topic.like(_like(topic), escape="\\"))
        if cast:
            where.append(DuelRow.search_cast.like(_like(cast), escape="\\"))
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(DuelRow).where(*where))
            rows = await connection.execute(
                select(*_SUMMARY).where(*where).order_by(DuelRow.created_at.desc(), DuelRow.id).limit(limit).offset(offset)
            )
            return DuelPage(total=total, limit=limit, offset=offset, items=[DuelSummary(**row._mapping) for row in rows])

    async def get(self, duel_id: str) -> DuelDetail | None:
        async with self.engine.connect() as connection:
            duel = (await connection.execute(
                select(*_SUMMARY, DuelRow.flow_snapshot, DuelRow.turns, DuelRow.seed, DuelRow.settings)
                .where(DuelRow.id == duel_id)
            )).first()
            if duel is None:
                return None
            lines = await connection.execute(
                select(*[getattr(LineRow, name) for name in StoredLine.model_fields])
                .where(LineRow.duel_id == duel_id).order_by(LineRow.number)
            )
            return DuelDetail(
                **duel._mapping, lines=[StoredLine(**line._mapping) for line in lines]
            )

    async def line_audio(self, duel_id: str) -> list[tuple[float, float, bytes]]:
        """(start seconds, length seconds, Ogg/Opus) of every line, in order, as long as
        the whole duel's audio has not been kept (that clears them)."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(LineRow.start_seconds, LineRow.audio_seconds, LineRow.audio)
                .where(LineRow.duel_id == duel_id, LineRow.audio.is_not(None)).order_by(LineRow.number)
            )
            return [tuple(row) for row in rows]

    async def whole_audio(self, duel_id: str) -> bytes | None:
        async with self.engine.connect() as connection:
            return await connection.scalar(select(DuelAudioRow.ogg).where(DuelAudioRow.duel_id == duel_id))

    async def keep_whole_audio(self, duel_id: str, ogg: bytes) -> None:
        """Keep a finished duel's whole sound and clear its lines' own, in one transaction."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(DuelAudioRow.__table__.insert().values(duel_id=duel_id, ogg=ogg))
                await connection.execute(update(LineRow).where(LineRow.duel_id == duel_id).values(audio=None))
                await connection.execute(update(DuelRow).where(DuelRow.id == duel_id).values(audio_bytes=len(ogg)))
        except IntegrityError:  # kept meanwhile by another request (or the duel was deleted)
            pass

    # --- forgetting ---

    async def delete(self, duel_id: str) -> bool:
        """Delete a duel and its lines; False if there was none. Re-voicings of it stay."""
        async with self.engine.begin() as connection:
            status = await connection.scalar(select(DuelRow.status).where(DuelRow.id == duel_id))
            if status is None:
                return False
            if status == "running":
                raise DuelRunningError(f"duel {duel_id} is still running; stop it first")
            await connection.execute(delete(DuelRow).where(DuelRow.id == duel_id))
            return True

    async def prune(self, keep_duels: int | None, keep_bytes: int | None) -> list[str]:
        """Delete the oldest finished duels beyond `keep_duels` duels or `keep_bytes` of audio."""
        if keep_duels is None and keep_bytes is None:
            return []
        async with self.engine.begin() as connection:
            rows = await connection.execute(
                select(DuelRow.id, DuelRow.status, DuelRow.audio_bytes).order_by(DuelRow.created_at.desc(), DuelRow.id)
            )
            doomed, count, size = [], 0, 0
            for duel_id, status, audio_bytes in rows:
                count, size = count + 1, size + audio_bytes
                over = (keep_duels is not None and count > keep_duels) or (keep_bytes is not None and size > keep_bytes)
                if over and status != "running":
                    doomed.append(duel_id)
            if doomed:
                await connection.execute(delete(DuelRow).where(DuelRow.id.in_(doomed)))
            return doomed


def alembic_config(connection) -> Config:
    """Alembic's configuration for our migrations, run on an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(connection, _record) -> None:
    """Foreign keys on (deleting a duel deletes its lines); WAL, so the page can read the
    history while a duel writes to it; wait rather than fail on a busy database."""
    cursor = connection.cursor()
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
