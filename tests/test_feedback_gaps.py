"""The coverage-gaps report and the replay that closes gaps.

The clustering is tested twice: on tiny hand-made vectors whose grouping is plain
arithmetic, and on a seeded set of real questions, embedded with the real model, whose
grouping was worked out by hand (which questions are rewordings of one need). The replay
runs the real KnowledgeBase over the corpus index; the gap rows are seeded straight into a
real SQLite file, as a server on an older build would have written them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from kb_service.feedback import AnswerStore, database_url, gaps_report, parse_since, replay_gaps
from kb_service.feedback.gaps import central_member, cluster_questions
from kb_service.feedback.store import AnswerRecord, Feedback

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import REPO, api_settings, running_app  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

HOUR = 3600.0
DEADLINE_S = 60

# Four needs the docs do not meet, each worded several ways; the grouping is by hand.
PRICING = ["How much does Journey Optimizer cost?", "What is the price of a Journey Optimizer licence?",
           "Journey Optimizer pricing per month"]
PDF = ["How do I export a journey as a PDF?", "Can I print a journey diagram to PDF?", "Download a journey as a PDF file"]
CRM = ["Does Journey Optimizer integrate with Salesforce CRM?", "How do I connect Salesforce to Journey Optimizer?"]
WEATHER = ["Quel temps fera-t-il à Paris demain ?"]
ANSWERABLE = "which approach for cart abandonment?"  # the corpus answers it with confidence


# ---- pure parts ---------------------------------------------------------------------------------


def test_since_is_a_number_and_a_unit():
    assert [parse_since(s) for s in ("90s", "30m", "24h", "7d", "2w")] == [90, 1800, 86400, 604800, 1209600]
    for bad in ("", "7", "d", "-1d", "0d", "7 days", "1y"):
        with pytest.raises(ValueError, match="e.g. 7d"):
            parse_since(bad)


def test_clustering_cuts_average_linkage_at_the_threshold():
    # Rows 0 and 1 are 10° apart, row 2 is 90° from both, row 3 is 100° from 0.
    angles = np.radians([0.0, 10.0, 90.0, 100.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1) * [[1.0], [2.0], [1.0], [3.0]]  # norms do not matter
    # cos 10° = 0.985: distance 0.015 within {0,1} and {2,3}; between them ≥ 1 - cos 80° = 0.83.
    assert cluster_questions(vectors, threshold=0.4) == [[0, 1], [2, 3]]
    assert cluster_questions(vectors, threshold=0.01) == [[0], [1], [2], [3]]
    assert cluster_questions(vectors, threshold=1.5) == [[0, 1, 2, 3]]
    assert cluster_questions(vectors[:1]) == [[0]] and cluster_questions(np.zeros((0, 2))) == []


def test_the_central_member_is_closest_on_average_to_the_others():
    angles = np.radians([0.0, 20.0, 25.0])  # 20° sits between: 20° and 5° from the others
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert central_member(vectors, [0, 1, 2]) == 1
    assert central_member(vectors, [2]) == 2


# ---- with the real model ------------------------------------------------------------------------


def seed(store, questions, *, now, build="old-build", abstained=True, rating=None, cited=()):
    ids = []
    records = []
    for i, question in enumerate(questions):
        answer_id = f"{build}-{len(question)}-{i}-{abs(hash(question)) % 10**8}"[:32]
        ids.append(answer_id)
        records.append(AnswerRecord(answer_id, now - HOUR, "ask", "fr" if question in WEATHER else "en", question,
                                    abstained, 0.2 if abstained else 0.9, tuple(cited), build))
    store.write(records)
    if rating:
        store.write([Feedback(i, rating, f"comment on {i[:6]}", now) for i in ids])
    return ids


@pytest.fixture
def store(tmp_path):
    store = AnswerStore(database_url(None, tmp_path / "data")).open()
    yield store
    store.close()


def test_seeded_gap_questions_group_as_worked_out_by_hand(store, shared_kb):
    now = time.time()
    # Each question asked once, the first pricing question three times more (once spelt otherwise).
    seed(store, PRICING + PDF + CRM + WEATHER + [PRICING[0]] * 2 + ["how much does journey optimizer  COST?"], now=now)
    down = seed(store, ["Which approach for a monthly newsletter?"], now=now, build="b", abstained=False, rating="down",
                cited=[shared_kb.index.chunks[0].chunk_id])
    store.write([AnswerRecord("private", now - HOUR, "mcp", "en", None, True, 0.1, (), "b")])  # KB_STORE_QUESTIONS off
    report = gaps_report(store, shared_kb, since_s=parse_since("7d"), now=now, build="b")
    groups = {frozenset(e["question"] for e in t["examples"]) for t in report["topics"]}
    assert groups == {frozenset(PRICING), frozenset(PDF), frozenset(CRM), frozenset(WEATHER),
                      frozenset(["Which approach for a monthly newsletter?"])}
    pricing = next(t for t in report["topics"] if PRICING[0] in {e["question"] for e in t["examples"]})
    assert report["topics"][0] is pricing and pricing["asks"] == 6 and pricing["questions"] == 3
    assert pricing["topic"] in PRICING  # named by one of its own questions: the most central one
    assert pricing["examples"][0] == {"question": PRICING[0], "asks": 4}  # spellings merged, most asked first
    weather = next(t for t in report["topics"] if t["topic"] == WEATHER[0])
    assert weather["langs"] == {"fr": 1} and all("/fr/" in s["url"] for s in weather["sections"])
    assert all(len(t["sections"]) == 3 for t in report["topics"])
    assert report["most_down_voted"][0]["question"] == "Which approach for a monthly newsletter?"
    assert report["most_down_voted"][0]["cited"][0]["url"] == shared_kb.index.chunks[0].url
    assert report["most_down_voted"][0]["comments"] == [f"comment on {down[0][:6]}"]
    assert report["questions_not_stored"] == 1 and report["gap_answers"] == 14
    # Deterministic: the same questions give the same report, in any order of arrival.
    again = gaps_report(store, shared_kb, since_s=parse_since("7d"), now=now, build="b")
    assert again == report


def test_replay_resolves_what_the_new_build_answers_and_the_report_says_by_which_build(store, shared_kb):
    now = time.time()
    build = shared_kb.info()["build"]
    fixed = seed(store, [ANSWERABLE, ANSWERABLE], now=now)
    still_open = seed(store, PRICING[:1], now=now)
    same_build = seed(store, [ANSWERABLE + " "], now=now, build=build)  # this build already abstained on it
    result = replay_gaps(store, shared_kb, build, now=now)
    assert result == {"build": build, "questions": 2, "resolved": 2}
    assert [store.get(i)["resolved_build"] for i in fixed + still_open + same_build] == [build, build, None, None]
    assert replay_gaps(store, shared_kb, build, now=now) is None  # claimed once per build
    report = gaps_report(store, shared_kb, since_s=parse_since("1d"), now=now, build=build)
    assert report["resolved"] == []  # the ask on the current build keeps its topic open
    assert {t["topic"] for t in report["topics"]} == {ANSWERABLE, PRICING[0]}
    assert report["replays"][0] == {"build": build, "finished_at": report["replays"][0]["finished_at"],
                                    "questions": 2, "resolved": 2}


def test_a_down_voted_answer_is_resolved_only_by_an_answer_citing_other_sections(store, shared_kb):
    now = time.time()
    build = shared_kb.info()["build"]
    cited_now = [c.hit.chunk.chunk_id for c in shared_kb.ask(ANSWERABLE).citations]
    same = seed(store, [ANSWERABLE], now=now, abstained=False, rating="down", cited=cited_now)
    other = seed(store, [ANSWERABLE + "?"], now=now, abstained=False, rating="down", cited=["an-old-chunk"])
    replay_gaps(store, shared_kb, build, now=now)
    assert store.get(same[0])["resolved_build"] is None  # the same answer again
    assert store.get(other[0])["resolved_build"] == build


def test_the_server_replays_gaps_when_it_publishes_a_new_build(api_index, shared_kb, tmp_path):
    data_dir = tmp_path / "data"
    seeding = AnswerStore(database_url(None, data_dir)).open()
    now = time.time()
    fixed = seed(seeding, [ANSWERABLE], now=now)
    seeding.close()
    with running_app(api_settings(api_index, data_dir=data_dir, admin_key="a" * 32), kb=shared_kb) as client:
        store = AnswerStore(database_url(None, data_dir)).open()
        deadline = time.monotonic() + DEADLINE_S
        while store.get(fixed[0])["resolved_build"] is None:
            assert time.monotonic() < deadline, "the server did not replay the gaps of the older build"
            time.sleep(0.05)
        assert store.get(fixed[0])["resolved_build"] == shared_kb.info()["build"]
        store.close()
        report = client.get("/v1/admin/gaps", headers={"X-Admin-Key": "a" * 32}).json()
        assert [(t["topic"], t["resolved_by"]) for t in report["resolved"]] == [(ANSWERABLE, shared_kb.info()["build"])]
        assert report["topics"] == []


def test_kb_gaps_prints_a_table_and_json_and_replays_on_request(api_index, tmp_path):
    data_dir = tmp_path / "data"
    store = AnswerStore(database_url(None, data_dir)).open()
    now = time.time()
    seed(store, PDF + [ANSWERABLE], now=now)
    store.close()
    env = {"HF_HUB_OFFLINE": "1", "KB_DATA_DIR": str(data_dir), "KB_INDEX": str(api_index), "COLUMNS": "200",
           "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "kb_service.cli", "gaps", "--since", "2d"]
    printed = subprocess.run(command + ["--replay"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert "Topics the docs do not answer" in printed.stdout and "Resolved by a later build" in printed.stdout
    assert "1 answer(s) now resolved" in printed.stdout
    assert "PDF" in printed.stdout
    as_json = subprocess.run(command + ["--json"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    report = json.loads(as_json.stdout)
    assert [t["questions"] for t in report["topics"]] == [3]
    closest = report["topics"][0]["sections"][0]["url"].rsplit("/", 1)[1]  # "page#anchor", as the table shows it
    assert f"({closest})" in " ".join(printed.stdout.split()) or closest.split("#")[1] in printed.stdout
    assert [t["topic"] for t in report["resolved"]] == [ANSWERABLE]
    bad = subprocess.run(command[:-2] + ["--since", "a week"], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert bad.returncode == 2 and "since must be a positive number" in bad.stderr and "Traceback" not in bad.stderr
