"""The engine knows documentation; a product's options are profile data.

A small made-up product ("Parcelo", a shipping tool whose guide compares Routes and
Batches) is indexed for real (Markdown parsing, chunking, FAISS, BM25). Its embeddings come
from the toy hash embedder: this test is about which option an answer names, not about the
model. Pointed at these docs with no profile, kb answers and never names an option (least
of all a Journey Optimizer one); with a Parcelo profile written as data, the same engine
recommends Parcelo's options from the structure of its comparison guide.
"""

from __future__ import annotations

import pytest

from kb_service.config import SourceConfig
from kb_service.ingest.pipeline import ingest
from kb_service.kb import KnowledgeBase
from kb_service.profiles import ProfileError, load_profile, profile_from_data

from .toy import ToyEmbedder

GUIDE = """---
title: Routes vs Batches - choose the right tool
---

# Routes vs Batches: choose the right tool {#choose}

Parcelo offers two tools to move parcels: Routes and Batches.

## Decision table {#decision}

| Your need | Recommended tool | Why |
|---|---|---|
| Same-day courier delivery across town | Routes | Live tracking, one driver per parcel |
| Weekly pallet shipment to every store | Batches | One consolidated load, scheduled pickup |

## Use cases {#use-cases}

**Routes:**
* **Urgent medicine delivery**: Live dispatch of one parcel to one address
* **Food delivery**: Hot meals carried door to door

**Batches:**
* **Store restocking**: Pallets loaded once a week for every shop
* **Catalogue mailing**: Thousands of catalogues posted on one day

## How to create a route {#create-route}

Open the Routes menu, click Create, and draw the route on the map. A route holds at most 40 stops.
"""

PARCELO_PROFILE = {
    "name": "parcelo",
    "comparison_pages": ["help/using/guide.md"],
    "options": [
        {"id": "routes", "labels": {"en": "Routes"}, "names": {"en": ["routes", "route"]}},
        {"id": "batches", "labels": {"en": "Batches"}, "names": {"en": ["batches", "batch"]}},
    ],
}
JOURNEY_OPTIMIZER_WORDS = ("journey", "campaign", "orchestrat", "api-triggered")


@pytest.fixture(scope="module")
def parcelo_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("parcelo")
    page = root / "docs" / "help" / "using" / "guide.md"
    page.parent.mkdir(parents=True)
    page.write_text(GUIDE, encoding="utf-8")
    source = SourceConfig(name="parcelo", root=root / "docs", lang="en", entry=["help/using/guide.md"],
                          url="https://docs.example.test/{lang}/{page}#{anchor}")
    ingest(sources=[source], link_depth=1, index_root=root / "index", embedder=ToyEmbedder())
    return root / "index"


QUESTIONS = [
    "which tool for urgent medicine delivery?",
    "we restock every store each week with pallets, which tool should we use?",
    "routes or batches for a catalogue mailing?",
    "how do I create a route?",
]


def test_with_no_profile_the_engine_answers_and_names_no_option(parcelo_index):
    kb = KnowledgeBase(parcelo_index, embedder=ToyEmbedder()).load()
    for question in QUESTIONS:
        answer = kb.ask(question)
        assert answer.approach is None
        text = answer.answer.lower()
        assert not any(word in text for word in JOURNEY_OPTIMIZER_WORDS), text
        assert "recommended:" not in text


def test_a_profile_as_data_makes_the_same_engine_recommend_from_structure(parcelo_index):
    kb = KnowledgeBase(parcelo_index, embedder=ToyEmbedder(), profile=profile_from_data(PARCELO_PROFILE)).load()
    assert kb.ask("which tool for urgent medicine delivery?").approach == "routes"
    assert kb.ask("which tool should we use to restock every store each week with pallets?").approach == "batches"
    how_to = kb.ask("how do I create a route?")
    assert how_to.approach is None and "Recommended" not in how_to.answer
    assert "40 stops" in how_to.answer


def test_a_profile_that_cannot_be_read_is_a_clear_error(tmp_path):
    with pytest.raises(ProfileError, match="no profile 'nope'"):
        load_profile("nope")
    (tmp_path / "profile.toml").write_text("options = [{ id = 'x' }]\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="option 'x' has no names"):
        load_profile(tmp_path)
    assert load_profile("none") is None and load_profile(None) is None
