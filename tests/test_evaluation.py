"""Evaluation metrics, on hand-made rankings (semantics of ../shared/eval/README.md)."""

import json

import pytest

from kb_service.evaluation import approach_named_first, is_relevant, judge, load_questions, ndcg, normalize, reciprocal_rank, summarize


def test_normalisation_follows_the_eval_readme():
    assert normalize("Temps d&#39;attente\u200b **gras** `code` “quoted” – dash") == "temps d'attente gras code \"quoted\" - dash"


@pytest.mark.parametrize(
    "answer, approach",
    [
        ("Journeys — real-time trigger [1]", "journey"),
        ("Recommended: Orchestrated Campaign — multi-entity", "orchestrated"),
        ("Use an API-triggered campaign, not a journey", "api"),
        ("Adobe Journey Optimizer offers an action campaign", "action"),
        ("Recommandé : Campagne déclenchée par l’API — …", "api"),
        ("Parcours — Déclencheur en temps réel", "journey"),
        ("Nothing named here", None),
    ],
)
def test_the_approach_named_first(answer, approach):
    assert approach_named_first(answer) == approach


def hit(text, lang="en", path="help/using/start/journeys-vs-campaigns.md"):
    return {"text": text, "lang": lang, "path": path, "anchor": "a", "kind": "paragraph"}


QUESTION = {"id": "x", "lang": "en", "question": "q", "relevant": [{"path": "help/using/start/journeys-vs-campaigns.md", "evidence": ["Cart abandonment"]}]}


def test_relevance_needs_language_path_evidence_and_a_passage_not_a_page():
    assert is_relevant(hit("**Cart** abandonment with reminders"), QUESTION)
    assert not is_relevant(hit("Cart abandonment", lang="fr"), QUESTION)
    assert not is_relevant(hit("Cart abandonment", path="help/using/other.md"), QUESTION)
    assert not is_relevant(hit("Cart abandonment " + "x" * 2600), QUESTION)


def test_rank_metrics():
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False] * 12) == 0.0
    assert ndcg([True, False]) == 1.0
    assert ndcg([False, True]) == pytest.approx(1 / 1.5849625, rel=1e-6)


def test_judging_and_summary():
    answerable = judge(dict(QUESTION, approach="journey"), [hit("nope"), hit("Cart abandonment")], {"answer": "Journeys — x", "abstained": False, "confidence": 0.9})
    oos = judge({"id": "o", "lang": "en", "question": "?", "relevant": [], "abstain": True}, [], {"answer": "x", "abstained": False, "confidence": 0.7})
    summary = summarize([answerable, oos])
    assert summary["recall@1"] == 0.0 and summary["recall@5"] == 1.0 and summary["mrr@10"] == 0.5
    assert summary["approach_accuracy"] == 1.0
    assert summary["abstention_accuracy"] == 0.0 and summary["false_abstention_rate"] == 0.0
    assert oos.failures == ["answered an out-of-scope question"]


def test_question_files_with_bad_lines_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "a", "lang": "en"}) + "\n{not json\n")
    with pytest.raises(ValueError, match="q.jsonl:2"):
        load_questions(path)
