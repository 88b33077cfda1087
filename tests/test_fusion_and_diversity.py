"""Fusion, folding of list items into their lists, and diversity: pure functions, by hand."""

from __future__ import annotations

import pytest

from kb_service.retrieve.hybrid import (
    FOCUS_HINT_RATIO,
    _close_item,
    best_items,
    diversify,
    fold_items_into_parents,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)


def test_rrf_sums_reciprocal_ranks_by_id():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    # b is second in one list and first in the other: it beats a, first in only one.
    assert max(fused, key=fused.get) == "b"


def test_rrf_weights_scale_each_ranking():
    fused = reciprocal_rank_fusion([["a"], ["b"]], k=0, weights=[2.0, 1.0])
    assert fused == {"a": 2.0, "b": 1.0}


def test_weighted_fusion_mixes_cosine_with_max_normalised_bm25():
    fused = weighted_score_fusion({"a": 0.8, "b": 0.4}, {"b": 10.0, "c": 5.0}, dense_weight=0.5)
    assert fused["a"] == pytest.approx(0.4)  # 0.5*0.8 + 0.5*0
    assert fused["b"] == pytest.approx(0.7)  # 0.5*0.4 + 0.5*1.0
    assert fused["c"] == pytest.approx(0.25)  # 0.5*0 + 0.5*0.5


def test_weighted_fusion_without_lexical_matches_is_dense_only():
    assert weighted_score_fusion({"a": 0.5}, {}, dense_weight=0.7) == {"a": pytest.approx(0.35)}


def test_items_fold_into_their_list_with_the_best_score_and_a_focus():
    fused = {"list": 0.3, "item1": 0.9, "item2": 0.5, "other": 0.4}
    folded, focus = fold_items_into_parents(fused, {"item1": "list", "item2": "list"})
    assert folded == {"list": 0.9, "other": 0.4}
    assert focus == {"list": "item1"}


def test_a_list_scoring_above_its_items_keeps_no_focus():
    folded, focus = fold_items_into_parents({"item": 0.2, "list": 0.8}, {"item": "list"})
    assert folded == {"list": 0.8} and focus == {}


def test_a_close_item_still_names_the_part_of_its_list_the_question_is_about():
    fused = {"list": 1.0, "item1": 0.6, "item2": 0.9, "alone": 0.5}
    best = best_items(fused, {"item1": "list", "item2": "list"})
    assert best == {"list": ("item2", 0.9)}
    assert FOCUS_HINT_RATIO <= 0.9
    assert _close_item(best["list"], fused["list"]) == "item2"
    assert _close_item(("item1", 0.6), fused["list"]) is None  # too far below the list itself
    assert _close_item(None, 1.0) is None


def test_diversity_defers_a_table_row_after_its_table_and_near_duplicates():
    groups = {"table": "t1", "row": "t1", "para": "", "copy": "", "other": ""}
    vectors = {"para": 1.0, "copy": 1.0, "other": 0.0, "table": 0.5, "row": 0.5}

    def similarity(a, b):
        if {a, b} == {"para", "copy"}:
            return 0.99  # a paraphrase of the same fact on another page
        return 0.1

    order = diversify(["table", "row", "para", "copy", "other"], group_of=groups.get, similarity=similarity)
    assert order == ["table", "para", "other", "row", "copy"]
    assert vectors  # (the vectors only document the intent of the similarity stub)


def test_diversity_keeps_restatements_when_nothing_else_is_relevant():
    order = diversify(["a", "b"], group_of=lambda _: "same")
    assert order == ["a", "b"]


def test_diversity_with_a_limit_fills_the_places_read_exactly_as_without_it():
    import random

    rng = random.Random(7)
    for _ in range(200):
        ranked = [f"c{i}" for i in range(rng.randint(0, 12))]
        groups = {key: rng.choice(["", "", "g1", "g2"]) for key in ranked}
        close = {frozenset(rng.sample(ranked, 2)) for _ in range(3)} if len(ranked) > 1 else set()

        def similarity(a, b):
            return 0.99 if frozenset((a, b)) in close else 0.0

        full = diversify(ranked, group_of=groups.get, similarity=similarity)
        for limit in range(0, 6):
            limited = diversify(ranked, group_of=groups.get, similarity=similarity, limit=limit)
            assert limited[:limit] == full[:limit]
            assert sorted(limited) == sorted(ranked)  # nothing dropped, nothing repeated


def test_a_rare_pair_of_the_questions_words_lifts_the_chunks_that_hold_it(corpus_kb):
    from kb_service.retrieve import hybrid

    retriever = corpus_kb.retriever
    assert ("merg", "polici") in retriever._rare_pairs("which merge policy does a unitary event journey use?", "en")
    # A pair most chunks hold ("orchestrated campaigns") tells nothing apart.
    assert not retriever._rare_pairs("orchestrated campaign", "en")
    question = "which merge policy does a unitary event journey use?"
    vector = corpus_kb.embed_query(question)
    boosted = retriever.retrieve(question, vector, lang="en", k=5)
    original, hybrid.PHRASE_BOOST = hybrid.PHRASE_BOOST, 1.0
    try:
        plain = retriever.retrieve(question, vector, lang="en", k=5)
    finally:
        hybrid.PHRASE_BOOST = original
    holds = lambda hits: [("merg", "polici") in retriever._chunk_pairs[h.chunk.chunk_id] for h in hits]
    assert holds(boosted.hits)[0]
    assert sum(holds(boosted.hits)) >= sum(holds(plain.hits))
