"""The tables of ``migrations.py`` as SQLAlchemy Core objects, for building queries."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

# One row per answer given. Times are seconds since the epoch (UTC); ``cited_chunks`` is a
# JSON list of chunk ids; ``question`` is NULL when KB_STORE_QUESTIONS is off.
answers = Table(
    "answers", metadata,
    Column("answer_id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("surface", String(32), nullable=False),
    Column("lang", String(8)),
    Column("question", Text),
    Column("abstained", Boolean, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("cited_chunks", Text, nullable=False),
    Column("build", String(64)),
    Column("rating", String(4)),  # "up" | "down" | NULL; a second vote replaces the first
    Column("comment", Text),
    Column("rated_at", Float),
    Column("resolved_build", String(64)),  # the index build whose replay answered this gap
    Column("resolved_at", Float),
)

# One row per index build whose gaps were replayed: claimed by the first process to start.
gap_replays = Table(
    "gap_replays", metadata,
    Column("build", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("questions", Integer),
    Column("resolved", Integer),
)
