"""The answer store and its recorder on real databases: SQLite files in a temporary folder
and, when a server can be started here, a throw-away PostgreSQL cluster.

No model and no index: answers are built by hand as the plain ``Answer`` values that
KnowledgeBase.ask returns, since what is tested is what gets stored and when.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, text

from kb_service.feedback import AnswerRecorder, AnswerStore, StoreError, StoreUnavailable, database_url
from kb_service.feedback.migrations import LATEST_VERSION
from kb_service.feedback.schema import metadata
from kb_service.feedback.store import AnswerRecord, Feedback
from kb_service.types import Answer, Chunk, Citation, Hit

pytest_plugins = ["tests.pg_cluster"]  # the session's PostgreSQL cluster: fixture ``pg``

DAY = 86400.0
DEADLINE_S = 30  # a bound for the writer thread, not a sleep


def chunk(chunk_id: str) -> Chunk:
    return Chunk(chunk_id=chunk_id, source="guide", path="help/using/a.md", lang="en", title="A", heading_path=("A",),
                 anchor="a", url="https://example.test/a#a", alt_url=None, line_start=1, line_end=2, kind="paragraph",
                 text="t", embed_text="t")


def answer(abstained: bool = False, cited: tuple[str, ...] = ("c1",), confidence: float = 0.8) -> Answer:
    citations = tuple(Citation(number=i + 1, hit=Hit(chunk(c), 1.0), snippet="t") for i, c in enumerate(cited))
    return Answer(answer="text", abstained=abstained, confidence=0.1 if abstained else confidence,
                  citations=() if abstained else citations, see_also=(), lang="en")


class Drops:
    """The ``on_drop`` counter, as the server's Prometheus counter would see it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, reason: str, count: int) -> None:
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + count


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return database_url(None, tmp_path / "data")
    cluster = request.getfixturevalue("pg")
    url = database_url(cluster.url, tmp_path)
    engine = create_engine(url)  # a clean schema for each test
    with engine.begin() as conn:
        for table in ("answers", "gap_replays", "schema_version"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
    return url


def test_migrations_create_the_schema_once_and_agree_with_schema_py(store_url):
    store = AnswerStore(store_url).open()
    assert store.schema_version() == LATEST_VERSION
    columns = {t: {c["name"] for c in inspect(store.engine).get_columns(t)} for t in ("answers", "gap_replays")}
    assert columns == {t: {c.name for c in metadata.tables[t].columns} for t in columns}
    store.close()
    again = AnswerStore(store_url).open()  # a second start applies nothing and loses nothing
    assert again.schema_version() == LATEST_VERSION
    again.close()


def test_a_database_from_a_newer_kb_is_refused_with_the_reason(store_url):
    store = AnswerStore(store_url).open()
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)"))
    store.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this kb knows"):
        AnswerStore(store_url).open()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = AnswerStore(database_url(None, tmp_path / "data")).open()
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    store.close()
    assert (tmp_path / "data" / "answers.sqlite3").is_file()


def test_answers_and_votes_round_trip(store_url):
    store = AnswerStore(store_url).open()
    store.write([AnswerRecord("a1", 100.0, "ask", "en", "how?", False, 0.9, ("c1", "c2"), "b1"),
                 Feedback("a1", "up", None, 101.0),
                 AnswerRecord("a2", 102.0, "chat", "fr", None, True, 0.1, (), "b1")])
    row = store.get("a1")
    assert (row["rating"], row["cited_chunks"], row["abstained"], row["question"]) == ("up", ["c1", "c2"], False, "how?")
    assert store.set_feedback(Feedback("a1", "down", "wrong page", 103.0))  # replaces the first vote
    assert (store.get("a1")["rating"], store.get("a1")["comment"]) == ("down", "wrong page")
    assert not store.set_feedback(Feedback("nope", "up", None, 104.0))
    assert store.totals(0) == {"answers": 2, "abstained": 1, "up_votes": 0, "down_votes": 1}
    assert [r["answer_id"] for r in store.gaps(0, 10)] == ["a2", "a1"]  # abstained, down-voted; newest first
    assert store.claim_replay("b2", 105.0) and not store.claim_replay("b2", 106.0)
    assert store.mark_resolved(["a2"], "b2", 107.0) == 1
    store.finish_replay("b2", 108.0, questions=1, resolved=1)
    assert store.replays()[0]["resolved"] == 1 and store.get("a2")["resolved_build"] == "b2"
    store.close()


def test_the_recorder_writes_off_the_request_path_and_keeps_questions_only_when_asked(tmp_path):
    url = database_url(None, tmp_path / "data")
    recorder = AnswerRecorder(AnswerStore(url), store_questions=True)
    recorder.build = "b1"
    recorder.start()
    first = recorder.record(answer(cited=("c1", "c2")), "which approach?", surface="ask")
    # Voting at once, while the record may still be queued: the vote lands after the insert.
    assert recorder.feedback(first, "down", "not this")
    assert recorder.flush()
    row = recorder.store.get(first)
    assert (row["question"], row["build"], row["surface"], row["rating"], row["comment"]) == \
        ("which approach?", "b1", "ask", "down", "not this")
    assert row["cited_chunks"] == ["c1", "c2"]
    assert recorder.feedback(first, "up", None) and recorder.store.get(first)["rating"] == "up"
    assert not recorder.feedback("0" * 32, "up", None)
    recorder.stop()

    private = AnswerRecorder(AnswerStore(url), store_questions=False)
    private.start()
    second = private.record(answer(abstained=True), "a private question", surface="chat")
    assert private.flush()
    assert private.store.get(second)["question"] is None and private.store.get(second)["abstained"] is True
    private.stop()


class HeldStore(AnswerStore):
    """The real SQLite store, whose first write waits until the test lets it go: the writer
    thread is then holding a batch with the answer, and a vote can arrive behind it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writing = threading.Event()
        self.release = threading.Event()

    def write(self, items) -> None:
        if not self.writing.is_set():
            self.writing.set()
            assert self.release.wait(DEADLINE_S)
        super().write(items)


def test_flush_waits_for_a_vote_queued_behind_its_answer(tmp_path):
    store = HeldStore(database_url(None, tmp_path / "data"))
    recorder = AnswerRecorder(store)
    recorder.start()
    answer_id = recorder.record(answer(), "which approach?")
    assert store.writing.wait(DEADLINE_S)  # the writer took the answer's batch
    assert recorder.feedback(answer_id, "down", "not this")  # queued: the answer is not written yet
    store.release.set()
    assert recorder.flush(DEADLINE_S)
    # Flushed means written: the answer and the vote that came after it.
    assert recorder.store.get(answer_id)["rating"] == "down"
    recorder.stop()


def test_a_restart_loses_nothing_that_was_recorded(store_url):
    recorder = AnswerRecorder(AnswerStore(store_url))
    recorder.start()
    ids = [recorder.record(answer(abstained=i % 3 == 0), f"question {i}", surface="ask") for i in range(600)]
    recorder.stop()  # what is still queued is written before the store closes
    again = AnswerRecorder(AnswerStore(store_url))
    again.start()
    wait_for(lambda: again.available, "the store to open")
    assert again.store.count() == 600
    assert again.feedback(ids[0], "down", None) and again.store.get(ids[0])["rating"] == "down"
    again.stop()


def test_a_database_that_cannot_be_opened_drops_and_counts_but_never_raises(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data folder should be")
    drops = Drops()
    recorder = AnswerRecorder(AnswerStore(database_url(None, blocked)), on_drop=drops)
    recorder.start()
    wait_for(recorder.opened.is_set, "the first attempt to open")
    assert not recorder.available and "cannot open the answer database" in recorder.open_error
    ids = [recorder.record(answer(), "q", surface="ask") for _ in range(5)]
    assert len(set(ids)) == 5
    wait_for(lambda: drops.counts.get("database") == 5, "the drops to be counted")
    with pytest.raises(StoreUnavailable):
        recorder.feedback(ids[0], "up", None)
    recorder.stop()


def test_a_full_queue_drops_and_counts(tmp_path):
    drops = Drops()
    recorder = AnswerRecorder(AnswerStore(database_url(None, tmp_path / "data")), queue_size=2, on_drop=drops)
    # Not started: nothing drains the queue, as when the writer falls behind.
    for _ in range(5):
        recorder.record(answer(), "q", surface="ask")
    assert drops.counts == {"queue_full": 3}


def test_the_retention_purge_deletes_only_expired_answers(tmp_path):
    now = [1_000 * DAY]
    recorder = AnswerRecorder(AnswerStore(database_url(None, tmp_path / "data")), retention_days=90,
                              clock=lambda: now[0])
    recorder.start()
    old = recorder.record(answer(), "old", surface="ask")
    now[0] += 89 * DAY
    kept = recorder.record(answer(), "recent", surface="ask")
    assert recorder.flush()
    now[0] += 2 * DAY  # "old" is 91 days old now, "recent" 2 days
    assert recorder.purge() == 1
    assert recorder.store.get(old) is None and recorder.store.get(kept) is not None
    recorder.stop()


def test_postgresql_going_down_drops_records_and_coming_back_stores_again(pg, tmp_path):
    url = database_url(pg.url, tmp_path)
    drops = Drops()
    recorder = AnswerRecorder(AnswerStore(url), on_drop=drops)
    recorder.start()
    before = recorder.record(answer(), "before", surface="ask")
    assert recorder.flush() and recorder.store.get(before) is not None
    pg.halt()
    try:
        lost = [recorder.record(answer(), "while down", surface="ask") for _ in range(3)]
        assert recorder.flush(), "the writer must give up on a dead server, not hang"
        assert drops.counts.get("database") == 3
        with pytest.raises(StoreUnavailable):
            recorder.feedback(before, "up", None)
    finally:
        pg.resume()
    after = recorder.record(answer(), "after", surface="ask")
    assert recorder.flush()
    assert recorder.store.get(after) is not None and recorder.store.get(lost[0]) is None
    assert recorder.store.get(before) is not None
    recorder.stop()


def test_a_database_url_kb_cannot_use_is_refused_with_the_forms_it_takes(tmp_path):
    from kb_service.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="database_url must start with postgresql://"):
        load_settings(database_url="mysql://user@host/db")
    with pytest.raises(StoreError, match="cannot be parsed: use postgresql://"):
        database_url("postgresql//missing-colon", tmp_path)
    assert database_url("postgres://u:p@h:5/db", tmp_path) == "postgresql+psycopg://u:p@h:5/db"
    settings = load_settings(index=tmp_path / "index")
    assert database_url(settings.database_url, settings.data_folder) == f"sqlite:///{tmp_path / 'data' / 'answers.sqlite3'}"
