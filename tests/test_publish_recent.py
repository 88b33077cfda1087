"""kb publish's replay of recent real questions: the ones kb answered and nobody down-voted
must go on being answered by the build that replaces the served one."""

from __future__ import annotations

import time

from kb_service.feedback.store import AnswerRecord, AnswerStore, Feedback, database_url
from kb_service.promotion import RECENT_SET, compare_builds, replay_recent


def test_recent_questions_are_the_answered_ones_nobody_down_voted(tmp_path):
    store = AnswerStore(database_url(None, tmp_path)).open()
    now = time.time()
    store.write([
        AnswerRecord("a1", now - 60, "ask", "en", "which approach for cart abandonment?", False, 0.9, ("c",), "b1"),
        AnswerRecord("a2", now - 50, "chat", "en", "Which approach for cart  abandonment?", False, 0.9, ("c",), "b1"),
        AnswerRecord("a3", now - 40, "ask", "en", "who won the world cup?", True, 0.1, (), "b1"),
        AnswerRecord("a4", now - 30, "ask", "fr", "quelle approche pour une newsletter ?", False, 0.8, ("c",), "b1"),
        AnswerRecord("a5", now - 20, "ask", "en", "how do I stop a journey?", False, 0.8, ("c",), "b1"),
        AnswerRecord("a6", now - 10 * 86400, "ask", "en", "an old question", False, 0.8, ("c",), "b1"),
    ])
    store.set_feedback(Feedback("a5", "down", None, now))
    recent = store.recent_questions(now - 7 * 86400, limit=10)
    # Newest first, one per question (case and spaces folded); no abstention, no down-vote, nothing older.
    assert [q["question"] for q in recent] == ["quelle approche pour une newsletter ?", "Which approach for cart  abandonment?"]
    assert recent[0]["lang"] == "fr"
    store.close()


def test_a_build_that_stops_answering_recent_questions_is_a_drop(corpus_kb):
    questions = [{"question": "which approach for cart abandonment?", "lang": "en"},
                 {"question": "quelle approche pour une newsletter mensuelle ?", "lang": "fr"}]
    assert replay_recent(corpus_kb, questions)["overall"]["still_answered"] == 1.0

    class Abstaining:
        """Stands in for a broken candidate build: only its abstaining is what is tested."""

        def ask(self, question):
            answer = corpus_kb.ask("who won the 1998 football world cup?")
            assert answer.abstained
            return answer

    [comparison] = compare_builds(corpus_kb, Abstaining(), {RECENT_SET: questions}, tolerance=0.02)
    assert comparison.drops and "Recent questions still answered 1.000 -> 0.000" in comparison.drops[0]
    assert len(comparison.newly_failing) == 2
