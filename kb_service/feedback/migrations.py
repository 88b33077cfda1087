"""The database schema, as numbered migrations applied in order and recorded in ``schema_version``.

Plain SQL that SQLite and PostgreSQL both read the same way (``DOUBLE PRECISION`` has REAL
affinity in SQLite, ``BOOLEAN`` is stored as 0/1 there). A migration is never edited once
released: a change of schema is a new, higher number. ``schema.py`` describes the same tables
for SQLAlchemy's queries; tests check the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "answers with their feedback, and gap replays", (
        """CREATE TABLE answers (
            answer_id VARCHAR(32) PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            surface VARCHAR(32) NOT NULL,
            lang VARCHAR(8),
            question TEXT,
            abstained BOOLEAN NOT NULL,
            confidence DOUBLE PRECISION NOT NULL,
            cited_chunks TEXT NOT NULL,
            build VARCHAR(64),
            rating VARCHAR(4),
            comment TEXT,
            rated_at DOUBLE PRECISION,
            resolved_build VARCHAR(64),
            resolved_at DOUBLE PRECISION
        )""",
        "CREATE INDEX answers_created_at ON answers (created_at)",
        """CREATE TABLE gap_replays (
            build VARCHAR(64) PRIMARY KEY,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            questions INTEGER,
            resolved INTEGER
        )""",
    )),
)

LATEST_VERSION = MIGRATIONS[-1].version
