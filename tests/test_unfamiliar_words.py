"""A question that reaches a vocabulary group only through a word the docs never use.

Hand-made pages, the toy embedder (tests/toy.py) and a real BM25 index: "parcel" is in no
page, "shipping" and "logistics" are in two, so the shipping group is searched by the docs'
words at UNFAMILIAR_WORDS_WEIGHT, not at the light RELATED_WORDS_WEIGHT.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_service.retrieve import hybrid as retrieval
from kb_service.config import SourceConfig
from kb_service.store.index import load_index
from kb_service.ingest.pipeline import ingest
from kb_service.retrieve.hybrid import HybridRetriever

from kb_service.profiles import load_profile
from kb_service.understand.vocabulary import Vocabulary

from .toy import ToyEmbedder

PAGES = {
    "help/using/start/guide.md": "# Guide {#guide}\n\nSee [updates](../other/updates.md) and [welcome](../other/welcome.md).\n\n"
    "## Updates {#updates}\n\nShipping updates come from the logistics system.\n",
    "help/using/other/updates.md": "# Updates {#updates}\n\nThe logistics team sends shipping notices.\n",
    "help/using/other/welcome.md": "# Welcome {#welcome}\n\nGreet new customers with a welcome series.\n",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory) -> HybridRetriever:
    root = tmp_path_factory.mktemp("unfamiliar")
    for rel, text in PAGES.items():
        (root / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / rel).write_text(text, encoding="utf-8")
    source = SourceConfig(name="docs", root=root / "docs", lang="en", entry=["help/using/start/guide.md"])
    ingest(sources=[source], link_depth=1, index_root=root / "index", embedder=ToyEmbedder())
    # The vocabulary groups come from the Journey Optimizer profile ("parcel" -> shipping).
    vocabulary = Vocabulary(load_profile("journey-optimizer").vocabulary)
    return HybridRetriever(load_index(root / "index"), vocabulary=vocabulary)


def _lexical(retriever: HybridRetriever, question: str) -> dict[str, float]:
    return retriever._lexical(question, "en", retriever._lang_masks["en"])


def test_the_docs_words_for_a_group_reached_through_an_unknown_word_count_fully(retriever, monkeypatch):
    question = "when has my parcel left?"
    full = _lexical(retriever, question)
    monkeypatch.setattr(retrieval, "UNFAMILIAR_WORDS_WEIGHT", retrieval.RELATED_WORDS_WEIGHT)
    light = _lexical(retriever, question)
    shipping = [key for key in full if key in light]
    assert shipping  # the shipping passages are found through the docs' words only
    for key in shipping:
        assert full[key] == pytest.approx(light[key] / retrieval.RELATED_WORDS_WEIGHT)


def test_a_question_in_the_docs_words_is_searched_as_before(retriever, monkeypatch):
    # The shipping group is reached through "shipping" itself: its other words stay light.
    question = "which shipping updates?"
    assert retriever.vocabulary.related_words_by_familiarity(question, "en", retriever._rare_group_stems["en"])[0]
    before = _lexical(retriever, question)
    monkeypatch.setattr(retrieval, "UNFAMILIAR_WORDS_WEIGHT", 123.0)
    assert _lexical(retriever, question) == before
