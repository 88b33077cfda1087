"""Ingest on small hand-made sources: link following, bad files, incremental updates.

The embedding model is faked (tests/toy.py): these tests are about what gets read, chunked,
embedded and written, which the toy embedder makes countable. Files, FAISS and BM25 are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_service.config import SourceConfig
from kb_service.ingest.corpus import page_url, scan_sources
from kb_service.store.index import load_index
from kb_service.ingest.pipeline import NothingToIndex, ingest

from .toy import ToyEmbedder

GUIDE = """---
title: The guide
exl-id: 1234-secret
---
# The guide {#guide}

Start here. See [the other page](../other/page.md#part) and [a missing one](missing.md).

## Part one {#part-one}

Journeys react to events in real time.
"""
OTHER = """---
title: Other page
---
# Other {#other}

## Part {#part}

Campaigns send one message to everybody.

See [a third page](third.md).
"""
THIRD = "# Third\n\nOnly reachable at depth two.\n"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def source(root: Path, lang: str = "en", name: str = "docs", optional: bool = False) -> SourceConfig:
    return SourceConfig(name=name, root=root, lang=lang, entry=["help/using/start/guide.md"], optional=optional)


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    write(root, {
        "help/using/start/guide.md": GUIDE,
        "help/using/other/page.md": OTHER,
        "help/using/other/third.md": THIRD,
    })
    return root


def test_links_are_followed_to_the_configured_depth_and_missing_ones_counted(docs):
    scan = scan_sources([source(docs)], link_depth=1)
    assert [d.path for d in scan.documents] == ["help/using/start/guide.md", "help/using/other/page.md"]
    # missing.md from the guide; third.md exists but lies beyond depth 1, so it is not missing.
    assert scan.missing_links == [("en:help/using/start/guide.md", "help/using/start/missing.md")]
    deeper = scan_sources([source(docs)], link_depth=2)
    assert "help/using/other/third.md" in [d.path for d in deeper.documents]


def test_bad_files_are_warnings_naming_the_file_and_the_rest_proceeds(docs):
    write(docs, {
        "help/using/other/page.md": b"\xff\xfe not utf-8 \xc3\x28",
    })
    scan = scan_sources([source(docs)], link_depth=1)
    assert [d.path for d in scan.documents] == ["help/using/start/guide.md"]
    assert any("page.md" in w and "UTF-8" in w for w in scan.warnings)


@pytest.mark.parametrize("content, problem", [(b"", "empty"), (b"\x00\x01binary", "binary")])
def test_empty_and_binary_files_are_skipped_with_a_warning(docs, content, problem):
    write(docs, {"help/using/other/page.md": content})
    scan = scan_sources([source(docs)], link_depth=1)
    assert any("page.md" in w and problem in w for w in scan.warnings)


def test_a_missing_optional_source_is_one_warning(tmp_path, docs):
    scan = scan_sources([source(tmp_path / "nowhere", optional=True), source(docs)], link_depth=0)
    assert len(scan.warnings) == 1 and "not found" in scan.warnings[0]
    assert len(scan.documents) == 1


def test_nothing_readable_is_an_error(tmp_path):
    with pytest.raises(NothingToIndex):
        ingest(sources=[source(tmp_path / "nowhere")], link_depth=1, index_root=tmp_path / "index", embedder=ToyEmbedder())


def test_public_url_pattern():
    pattern = "https://experienceleague.adobe.com/{lang}/docs/journey-optimizer/using/{page}#{anchor}"
    assert page_url(pattern, "fr", "help/using/start/journeys-vs-campaigns.md", "decision-guide") == (
        "https://experienceleague.adobe.com/fr/docs/journey-optimizer/using/start/journeys-vs-campaigns#decision-guide"
    )
    assert page_url(pattern, "en", "help/using/start/x.md", None).endswith("/start/x")


def test_ingest_writes_a_cited_index_and_front_matter_stays_out(tmp_path, docs):
    report = ingest(sources=[source(docs)], link_depth=1, index_root=tmp_path / "index", embedder=ToyEmbedder())
    assert report.pages == 2 and report.embedded == report.chunks > 0
    loaded = load_index(tmp_path / "index")
    texts = " ".join(c.text + c.embed_text for c in loaded.chunks)
    assert "exl-id" not in texts and "1234-secret" not in texts
    journey = next(c for c in loaded.chunks if "Journeys react" in c.text)
    assert (journey.anchor, journey.line_start, journey.title) == ("part-one", 11, "The guide")
    assert journey.url.endswith("/start/guide#part-one")
    lines = (docs / journey.path).read_text().splitlines()
    assert "Journeys react to events" in "\n".join(lines[journey.line_start - 1 : journey.line_end])


def test_reingest_with_nothing_changed_embeds_nothing_and_writes_nothing(tmp_path, docs):
    index = tmp_path / "index"
    ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=ToyEmbedder())
    build = (index / "CURRENT").read_text().strip()
    again = ToyEmbedder()
    report = ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=again)
    assert report.up_to_date and again.texts_embedded == 0
    assert (index / "CURRENT").read_text().strip() == build


def test_a_changed_page_re_embeds_only_its_changed_chunks(tmp_path, docs):
    index = tmp_path / "index"
    first = ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=ToyEmbedder())
    write(docs, {"help/using/other/page.md": OTHER.replace("everybody", "every subscriber")})
    embedder = ToyEmbedder()
    report = ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=embedder)
    assert report.pages_changed == ["en:help/using/other/page.md"]
    assert report.pages_unchanged == ["en:help/using/start/guide.md"]
    assert 0 < report.embedded < first.chunks
    assert embedder.texts_embedded == report.embedded + report.units_embedded
    loaded = load_index(index)
    assert any("every subscriber" in c.text for c in loaded.chunks)
    assert not any("everybody" in c.text for c in loaded.chunks)


def test_a_removed_page_drops_its_chunks(tmp_path, docs):
    index = tmp_path / "index"
    ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=ToyEmbedder())
    write(docs, {"help/using/start/guide.md": GUIDE.replace("[the other page](../other/page.md#part)", "the other page")})
    report = ingest(sources=[source(docs)], link_depth=1, index_root=index, embedder=ToyEmbedder())
    assert report.pages_removed == ["en:help/using/other/page.md"]
    assert {c.path for c in load_index(index).chunks} == {"help/using/start/guide.md"}


def test_translation_pairs_get_the_other_language_url(tmp_path, docs):
    fr = tmp_path / "fr"
    write(fr, {"help/using/start/guide.md": GUIDE.replace("Journeys react to events in real time.", "Les parcours réagissent aux événements.")})
    ingest(sources=[source(docs), source(fr, lang="fr", name="fr")], link_depth=1, index_root=tmp_path / "index", embedder=ToyEmbedder())
    chunks = load_index(tmp_path / "index").chunks
    en = next(c for c in chunks if c.lang == "en" and c.anchor == "part-one")
    assert en.alt_url == "https://experienceleague.adobe.com/fr/docs/journey-optimizer/using/start/guide#part-one"
    other = next(c for c in chunks if c.path.endswith("other/page.md"))
    assert other.alt_url is None  # no French twin of that page
