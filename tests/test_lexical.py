"""analyze + LexicalIndex on real bm25s and PyStemmer."""

from __future__ import annotations

import numpy as np
import pytest

from kb_service.store.lexical import LexicalIndex, analyze

FR_TEXTS = [
    "Une campagne orchestrée cible une audience à grande échelle.",  # 0
    "Gérer l'abandon de panier avec un parcours.",  # 1
    "Les paramètres des événements sont définis par l’administrateur.",  # 2
    "Le la les de des du.",  # 3: stop words only
    "Configurer un déclencheur d'opt-in.",  # 4
]
EN_TEXTS = [
    "Orchestrated campaigns target large audiences.",  # 0
    "Cart abandonment journeys react to events.",  # 1
    "The journey's trigger uses a profile_id attribute.",  # 2
    "Campaign scheduling and throttling.",  # 3
]


def test_analyze_english_stems_and_drops_stop_words():
    assert analyze("The Orchestrated Campaigns", "en") == ["orchestr", "campaign"]
    assert analyze("the journey's trigger doesn't fire", "en") == ["journey", "trigger", "fire"]
    assert analyze("profile_id opt-in", "en") == ["profil", "id", "opt"]  # "in" is a stop word


def test_analyze_french_elisions_accents_and_hyphens():
    assert analyze("l'abandon", "fr") == ["abandon"]
    assert analyze("L’abandon d’un panier", "fr") == ["abandon", "pani"]
    assert analyze("qu'il s'agisse jusqu'au", "fr") == ["agiss"]
    # Accents folded before stemming: typed with or without them, same terms.
    assert analyze("campagnes orchestrées", "fr") == analyze("campagne orchestrée", "fr")
    assert analyze("événements paramètres", "fr") == analyze("evenements parametres", "fr")
    assert analyze("opt-in", "fr") == ["opt", "in"]


def test_analyze_edge_cases():
    assert analyze("", "en") == []
    assert analyze("   ...  ", "fr") == []
    assert analyze("the and of", "en") == []
    with pytest.raises(ValueError, match="unsupported language"):
        analyze("hallo", "de")


@pytest.fixture(scope="module")
def fr_index() -> LexicalIndex:
    return LexicalIndex.build(FR_TEXTS, "fr")


@pytest.fixture(scope="module")
def en_index() -> LexicalIndex:
    return LexicalIndex.build(EN_TEXTS, "en")


def test_french_stemming_matches_inflections(fr_index):
    rows, scores = fr_index.search("campagnes orchestrées", 5)
    assert rows.tolist() == [0]
    assert scores[0] > 0 and scores.dtype == np.float32 and rows.dtype == np.int64
    assert fr_index.search("l'abandon", 5)[0].tolist() == [1]
    assert fr_index.search("abandon", 5)[0].tolist() == [1]
    assert fr_index.search("evenements parametres", 5)[0].tolist() == [2]
    assert fr_index.search("opt in", 5)[0].tolist() == [4]


def test_english_stemming_matches_inflections(en_index):
    assert en_index.search("orchestrated campaign", 5)[0].tolist()[0] == 0
    rows, scores = en_index.search("campaigns", 5)
    assert sorted(rows.tolist()) == [0, 3]
    assert (np.diff(scores) <= 0).all()  # best first
    assert en_index.search("journey", 5)[0].tolist() == [1, 2] or en_index.search("journey", 5)[0].tolist() == [2, 1]
    assert en_index.search("profile id", 5)[0].tolist() == [2]


def test_k_limits_and_zero_scores_dropped(en_index):
    rows, _ = en_index.search("campaigns journeys", 1)
    assert len(rows) == 1
    rows, _ = en_index.search("campaigns", 10)
    assert len(rows) == 2  # the other two rows score 0 and are dropped


@pytest.mark.parametrize("query", ["", "   ", "the of and", "zzzunknownzzz", "l'", "!!!"])
def test_empty_or_unknown_queries_give_empty_arrays(fr_index, en_index, query):
    for index in (fr_index, en_index):
        rows, scores = index.search(query, 5)
        assert rows.size == 0 and scores.size == 0
        assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_all_stop_word_corpus_builds_and_never_matches():
    index = LexicalIndex.build(["le la les", "de des"], "fr")
    assert index.size == 2
    assert index.search("le", 3)[0].size == 0
    assert index.search("campagne", 3)[0].size == 0


def test_build_rejects_empty_or_unknown_language():
    with pytest.raises(ValueError):
        LexicalIndex.build([], "en")
    with pytest.raises(ValueError):
        LexicalIndex.build(["x"], "de")


def test_save_load_round_trip(fr_index, tmp_path):
    fr_index.save(tmp_path / "lexical-fr")
    loaded = LexicalIndex.load(tmp_path / "lexical-fr")
    assert (loaded.lang, loaded.size) == ("fr", len(FR_TEXTS))
    for query in ("campagnes orchestrées", "l'abandon", "evenements", ""):
        a, b = loaded.search(query, 5), fr_index.search(query, 5)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_allclose(a[1], b[1])
    # bm25s arrays are plain .npy (no pickle) + json.
    names = sorted(p.name for p in (tmp_path / "lexical-fr").iterdir())
    assert "kb_lexical.json" in names and all(n.endswith((".npy", ".json")) for n in names)


def test_load_refuses_other_analyzer_version(fr_index, tmp_path):
    import json

    fr_index.save(tmp_path / "lx")
    meta_path = tmp_path / "lx" / "kb_lexical.json"
    meta = json.loads(meta_path.read_text())
    meta["analyzer_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="analyzer version"):
        LexicalIndex.load(tmp_path / "lx")
