"""The answer store: answers, their feedback and gap replays, in SQLite or PostgreSQL.

SQLAlchemy Core over one schema (migrations.py); SQLite files run in WAL mode so that the
server's writer and a `kb gaps` reading at the same time do not block each other, and so
that several worker processes can share one file. Every method opens its own connection
from the engine's pool, so one store serves the writer thread and request threads alike.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import Engine, create_engine, delete, event, func, insert, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from kb_service.feedback.migrations import LATEST_VERSION, MIGRATIONS
from kb_service.feedback.schema import answers, gap_replays, schema_version

SQLITE_FILE = "answers.sqlite3"
_LOCKED = "kb_write_lock"  # execution option: begin SQLite transactions with the write lock held
_MIGRATION_LOCK = 7_317_001  # PostgreSQL advisory lock key of the migrations
SUPPORTED = ("sqlite", "postgresql")


class StoreError(RuntimeError):
    """The answer database cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class AnswerRecord:
    """What is kept of one answer (never the answer text: it can be recomputed from the build)."""

    answer_id: str
    created_at: float
    surface: str
    lang: str | None
    question: str | None
    abstained: bool
    confidence: float
    cited_chunks: tuple[str, ...]
    build: str | None

    def row(self) -> dict[str, Any]:
        return {"answer_id": self.answer_id, "created_at": self.created_at, "surface": self.surface,
                "lang": self.lang, "question": self.question, "abstained": self.abstained,
                "confidence": self.confidence, "cited_chunks": json.dumps(list(self.cited_chunks)),
                "build": self.build}


@dataclass(frozen=True)
class Feedback:
    answer_id: str
    rating: str
    comment: str | None
    at: float


def database_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL: ``url`` as given (PostgreSQL through psycopg 3), else a SQLite file."""
    if not url:
        return f"sqlite:///{Path(data_dir) / SQLITE_FILE}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"the database URL {url!r} cannot be parsed: use postgresql://user:password@host/database "
                         "or sqlite:///path/to/file") from None
    if parsed.drivername == "postgres":  # the scheme libpq and Heroku-style URLs use
        parsed = parsed.set(drivername="postgresql")
    if parsed.get_backend_name() not in SUPPORTED:
        raise StoreError(f"the database URL names {parsed.get_backend_name()!r}: kb stores answers in PostgreSQL "
                         "(postgresql://user:password@host/database) or SQLite (sqlite:///path/to/file)")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # not SQLAlchemy's default driver, psycopg2
    return parsed.render_as_string(hide_password=False)


def describe(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


class AnswerStore:
    """Read and write answer records. ``open`` connects and brings the schema up to date."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError("the answer store is not open")
        return self._engine

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    def open(self) -> "AnswerStore":
        """Connect, then apply the migrations this database lacks; StoreError when it cannot."""
        try:
            self._engine = self._create_engine()
            self._migrate()
        except StoreError:
            self.close()
            raise
        except (SQLAlchemyError, OSError, ImportError) as exc:
            self.close()
            raise StoreError(f"cannot open the answer database {describe(self.url)}: {_reason(exc)}") from exc
        return self

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _create_engine(self) -> Engine:
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 5})

            @event.listens_for(engine, "connect")
            def _connect(connection, _record) -> None:  # every new connection, not only the first
                # The sqlite3 module's own transaction handling leaves DDL outside transactions;
                # hand it to SQLAlchemy (the "begin" hook below) so migrations are atomic.
                connection.isolation_level = None
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
                cursor.execute("PRAGMA busy_timeout=5000")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _begin(conn) -> None:
                # IMMEDIATE takes the write lock up front: two processes migrating at once queue.
                conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_LOCKED) else "BEGIN")

            return engine
        # pool_pre_ping: a server restarted under us costs one failed batch, not a dead pool.
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                             connect_args={"connect_timeout": 3})

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return _version(conn)

    def _migrate(self) -> None:
        """Apply the pending migrations in one transaction, under a lock that serialises the
        processes starting together (server workers): the second finds the work done."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_LOCKED: True})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                                  "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"))
                current = _version(conn)
                if current > LATEST_VERSION:
                    raise StoreError(f"the answer database {describe(self.url)} has schema version {current}, newer "
                                     f"than this kb knows ({LATEST_VERSION}): upgrade kb, or point KB_DATABASE_URL "
                                     "elsewhere")
                for migration in MIGRATIONS:
                    if migration.version <= current:
                        continue
                    for statement in migration.statements:
                        conn.execute(text(statement))
                    conn.execute(insert(schema_version).values(version=migration.version, name=migration.name,
                                                               applied_at=time.time()))

    # ---- writes --------------------------------------------------------------------------

    def write(self, items: Sequence[AnswerRecord | Feedback]) -> None:
        """Answers and feedback in arrival order, in one transaction."""
        with self.engine.begin() as conn:
            rows: list[dict[str, Any]] = []
            for item in items:
                if isinstance(item, AnswerRecord):
                    rows.append(item.row())
                    continue
                if rows:
                    conn.execute(insert(answers), rows)
                    rows = []
                conn.execute(_feedback_update(item))
            if rows:
                conn.execute(insert(answers), rows)

    def set_feedback(self, feedback: Feedback) -> bool:
        """Rate a stored answer (replacing an earlier vote); False when no such answer is stored."""
        with self.engine.begin() as conn:
            return conn.execute(_feedback_update(feedback)).rowcount > 0

    def purge(self, before: float) -> int:
        """Delete the answers recorded before ``before`` (seconds since the epoch)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(answers).where(answers.c.created_at < before)).rowcount

    def mark_resolved(self, answer_ids: Iterable[str], build: str, at: float) -> int:
        ids = list(answer_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(update(answers).where(answers.c.answer_id.in_(ids), answers.c.resolved_build.is_(None))
                                .values(resolved_build=build, resolved_at=at)).rowcount

    def claim_replay(self, build: str, at: float) -> bool:
        """True for the first caller for ``build`` (the replay is then theirs to run)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(gap_replays).values(build=build, started_at=at))
            return True
        except IntegrityError:
            return False

    def finish_replay(self, build: str, at: float, questions: int, resolved: int) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(gap_replays).where(gap_replays.c.build == build)
                                .values(finished_at=at, questions=questions, resolved=resolved)).rowcount
            if not done:  # a replay run by hand (kb gaps --replay) that nobody claimed
                conn.execute(insert(gap_replays).values(build=build, started_at=at, finished_at=at,
                                                        questions=questions, resolved=resolved))

    # ---- reads ---------------------------------------------------------------------------

    def get(self, answer_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(answers).where(answers.c.answer_id == answer_id)).mappings().first()
        return _decoded(row) if row else None

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(answers)).scalar_one())

    def totals(self, since: float) -> dict[str, int]:
        """Answers, abstentions and votes recorded since ``since``."""
        c = answers.c
        with self.engine.connect() as conn:
            row = conn.execute(select(
                func.count(),
                func.count().filter(c.abstained.is_(True)),
                func.count().filter(c.rating == "up"),
                func.count().filter(c.rating == "down"),
            ).where(c.created_at >= since)).one()
        return {"answers": row[0], "abstained": row[1], "up_votes": row[2], "down_votes": row[3]}

    def gaps(self, since: float, limit: int) -> list[dict[str, Any]]:
        """Answers since ``since`` that abstained or were down-voted, newest first."""
        c = answers.c
        query = (select(answers).where(c.created_at >= since, (c.abstained.is_(True)) | (c.rating == "down"))
                 .order_by(c.created_at.desc(), c.answer_id).limit(limit))
        with self.engine.connect() as conn:
            return [_decoded(r) for r in conn.execute(query).mappings()]

    def recent_questions(self, since: float, limit: int) -> list[dict[str, Any]]:
        """Distinct questions asked since ``since`` (newest first) that kb answered and nobody
        down-voted: what a new build must go on answering. Needs KB_STORE_QUESTIONS."""
        c = answers.c
        query = (select(c.question, c.lang).where(c.created_at >= since, c.question.is_not(None),
                                                  c.abstained.is_(False), (c.rating.is_(None)) | (c.rating != "down"))
                 .order_by(c.created_at.desc()))
        seen: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                key = " ".join(str(row["question"]).split()).lower()
                if key and key not in seen:
                    seen[key] = {"question": row["question"], "lang": row["lang"]}
                if len(seen) >= limit:
                    break
        return list(seen.values())

    def replays(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = select(gap_replays).order_by(gap_replays.c.started_at.desc(), gap_replays.c.build)
            return [dict(r) for r in conn.execute(query).mappings()]


def _feedback_update(feedback: Feedback):
    return (update(answers).where(answers.c.answer_id == feedback.answer_id)
            .values(rating=feedback.rating, comment=feedback.comment, rated_at=feedback.at))


def _version(conn) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one())


def _decoded(row) -> dict[str, Any]:
    data = dict(row)
    data["cited_chunks"] = json.loads(data["cited_chunks"] or "[]")
    data["abstained"] = bool(data["abstained"])
    return data


def _reason(exc: BaseException) -> str:
    # SQLAlchemy's messages carry the SQL and a link; the driver's own first line says what failed.
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
