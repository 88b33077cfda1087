"""Blocks -> chunks, on hand-made pages whose chunks were worked out by hand, then the real corpus."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb_service.ingest.chunking import chunk_document, slugify
from kb_service.ingest.markdown import parse_markdown
from kb_service.types import CHUNK_KINDS

CORPUS = Path(__file__).parents[2] / "shared/corpus"


def words(text: str) -> int:
    return len(text.split())


def chunks_of(*lines: str, max_tokens: int = 256, handles: bool = False):
    """Chunks of the page; question handles (retrieval-only chunks) only when asked for."""
    chunks = chunk_document(parse_markdown("\n".join(lines) + "\n"), count_tokens=words, max_tokens=max_tokens)
    return chunks if handles else [c for c in chunks if c.kind != "question"]


def test_slugify_is_exported_here():
    assert slugify("Decision guide") == "decision-guide"


def test_embed_text_is_heading_context_plus_text():
    [chunk] = chunks_of(
        "---", "title: Journeys vs Campaigns - Choose", "---",  # 1-3
        "# Journeys vs Campaigns: Choose {#jvc}",  # 4
        "## Decision guide {#decision-guide}",  # 5
        "### Step 2: Validate your choice",  # 6
        "Pick one.",  # 7
    )
    assert chunk.text == "Pick one."
    assert chunk.embed_text == "Journeys vs Campaigns: Choose > Decision guide > Step 2: Validate your choice\nPick one."
    assert (chunk.kind, chunk.anchor, chunk.line_start, chunk.line_end) == ("paragraph", "decision-guide", 7, 7)


def test_document_title_is_the_context_when_there_is_no_h1():
    [chunk] = chunks_of("---", "title: My page", "---", "## Part", "Text.")
    assert chunk.embed_text == "My page > Part\nText."


def test_small_blocks_merge_within_a_section_but_never_across_headings():
    chunks = chunks_of(
        "## A",  # 1
        "First paragraph.",  # 2
        "",  # 3
        "Second paragraph.",  # 4
        "",  # 5
        "- an item",  # 6
        "## B",  # 7
        "Other section.",  # 8
    )
    assert [(c.text, c.kind, c.line_start, c.line_end) for c in chunks] == [
        ("First paragraph.\n\nSecond paragraph.\n\n- an item", "section", 2, 6),
        ("Other section.", "paragraph", 8, 8),
    ]


def test_long_list_splits_at_item_boundaries_within_budget():
    items = [f"- item {i} has five words" for i in range(1, 9)]  # 6 words each
    all_chunks = chunks_of("## L", *items, max_tokens=20)  # context "L" = 1 word -> 3 items per chunk
    chunks = [c for c in all_chunks if c.kind != "list_item"]
    assert [c.text.count("\n") + 1 for c in chunks] == [3, 3, 2]
    assert [(c.line_start, c.line_end) for c in chunks] == [(2, 4), (5, 7), (8, 9)]
    assert all(c.kind == "list" and words(c.embed_text) <= 20 for c in chunks)


def test_over_long_paragraph_splits_at_sentences():
    text = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen."
    chunks = chunks_of("## P", text, max_tokens=12)
    assert [c.text for c in chunks] == [
        "One two three four five. Six seven eight nine ten.",
        "Eleven twelve thirteen fourteen fifteen.",
    ]
    assert all(words(c.embed_text) <= 12 for c in chunks)


def test_sentence_longer_than_budget_is_cut_at_words():
    chunks = chunks_of("## P", " ".join(f"w{i}" for i in range(25)), max_tokens=10)
    assert all(words(c.embed_text) <= 10 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(f"w{i}" for i in range(25))


def test_lead_in_ending_with_colon_stays_with_what_follows():
    # Budget: context "S" (1) + ... ; the long paragraph cannot share with the lead-in + list.
    chunks = chunks_of(
        "## S",  # 1
        "A paragraph of exactly ten words that fills the space.",  # 2  (10 words)
        "",  # 3
        "Follow these steps:",  # 4  (3 words)
        "",  # 5
        "- step one",  # 6
        "- step two",  # 7
        max_tokens=17,
    )
    assert [c.text for c in chunks] == [
        "A paragraph of exactly ten words that fills the space.",
        "Follow these steps:\n\n- step one\n- step two",
    ]
    assert (chunks[1].line_start, chunks[1].line_end) == (4, 7)


def test_decision_step_paragraph_and_its_list_are_one_unit():
    chunks = chunks_of(
        "## Step 1",  # 1
        "**Real-time responses?**",  # 2
        "→ **Use Journeys**",  # 3
        "- Own pace",  # 4
        "- Conditional logic",  # 5
        "",  # 6
        "**Simple delivery?**",  # 7
        "→ **Use Campaigns**",  # 8
        "- All at once",  # 9
        max_tokens=15,
    )
    assert [c.text for c in chunks] == [
        "Real-time responses?\n→ Use Journeys\n\n- Own pace\n- Conditional logic",
        "Simple delivery?\n→ Use Campaigns\n\n- All at once",
    ]
    assert [(c.line_start, c.line_end) for c in chunks] == [(2, 5), (7, 9)]


def test_parent_lead_in_opens_the_first_subsection_chunk():
    chunks = chunks_of(
        "## Decision guide {#decision-guide}",  # 1
        "Follow this decision tree:",  # 2
        "### Step 1",  # 3
        "Step text.",  # 4
    )
    [chunk] = chunks
    assert chunk.text == "Follow this decision tree:\n\nStep text."
    assert chunk.heading_path == ("Decision guide", "Step 1")
    assert (chunk.line_start, chunk.line_end) == (2, 4)


def test_table_is_one_chunk_plus_one_chunk_per_row():
    chunks = chunks_of(
        "## Step 2: Validate your choice",  # 1
        "| Your need | Recommended approach | Journeys |",  # 2
        "|---|---|:-:|",  # 3
        "| **Cart abandonment** with reminder | Journeys | ✅ |",  # 4
        "| Newsletter | Action Campaign | ❌ |",  # 5
    )
    table, cart, newsletter = chunks
    assert table.kind == "table" and (table.line_start, table.line_end) == (2, 5)
    assert table.text.splitlines()[0] == "| Your need | Recommended approach | Journeys |"
    assert cart.kind == "table_row"
    assert cart.text == "Your need: Cart abandonment with reminder | Recommended approach: Journeys | Journeys: ✅"
    assert cart.cells == (("Your need", "Cart abandonment with reminder"), ("Recommended approach", "Journeys"), ("Journeys", "✅"))
    assert (cart.line_start, cart.line_end, newsletter.line_start) == (4, 4, 5)
    assert cart.embed_text == "Step 2: Validate your choice\n" + cart.text
    assert table.group == cart.group == newsletter.group == "table:2"


def test_lead_in_before_a_table_goes_on_top_of_the_table():
    table, _row = chunks_of("## T", "Use this table:", "", "| a | b |", "|---|---|", "| 1 | 2 |")
    assert table.text == "Use this table:\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert table.line_start == 2


def test_table_over_budget_keeps_full_text_and_truncates_embed_text():
    rows = [f"| r{i} | lots of words in this cell |" for i in range(10)]
    chunks = chunks_of("## T", "| k | v |", "|---|---|", *rows, max_tokens=30)
    table = chunks[0]
    assert table.text.count("\n") == 11
    assert words(table.embed_text) <= 30
    assert all(words(c.embed_text) <= 30 for c in chunks)


def test_code_is_never_split_or_merged():
    code = "\n".join(f"step {i} → next" for i in range(40))
    chunks = chunks_of("## C", "Before.", "```", code, "```", "After.", max_tokens=30)
    assert [c.kind for c in chunks] == ["paragraph", "code", "paragraph"]
    assert chunks[1].text == code
    assert (chunks[1].line_start, chunks[1].line_end) == (4, 43)
    assert words(chunks[1].embed_text) <= 30


def test_faq_chunks_start_with_the_question_and_long_ones_repeat_it():
    chunks = chunks_of(
        "## General",  # 1
        "+++ What is a journey?",  # 2
        "",  # 3
        "First answer paragraph has six words.",  # 4
        "",  # 5
        "Second answer paragraph has six words.",  # 6
        "+++",  # 7
        max_tokens=12,
    )
    assert [c.text for c in chunks] == [
        "What is a journey?\nFirst answer paragraph has six words.",
        "What is a journey?\nSecond answer paragraph has six words.",
    ]
    assert all(c.kind == "faq" and c.heading_path == ("General", "What is a journey?") for c in chunks)
    assert all(c.anchor == "general" for c in chunks)
    assert [(c.line_start, c.line_end) for c in chunks] == [(2, 4), (6, 6)]
    # The question is in the text, so the context line does not repeat it.
    assert chunks[0].embed_text == "General\n" + chunks[0].text


def test_q_and_a_pairs_are_separate_faq_chunks():
    chunks = chunks_of(
        "## Common questions",  # 1
        "**Q: Can I combine them?**",  # 2
        "",  # 3
        "A: Yes.",  # 4
        "",  # 5
        "**Q: Can I convert?**",  # 6
        "",  # 7
        "A: No.",  # 8
    )
    assert [(c.kind, c.text, c.heading_path[-1], c.line_start, c.line_end) for c in chunks] == [
        ("faq", "Can I combine them?\nA: Yes.", "Can I combine them?", 2, 4),
        ("faq", "Can I convert?\nA: No.", "Can I convert?", 6, 8),
    ]


def test_callout_and_tab_chunks():
    chunks = chunks_of(
        "## Types {#types}",  # 1
        ">[!BEGINTABS]",  # 2
        ">[!TAB Action]",  # 3
        "Action text.",  # 4
        ">[!TAB API]",  # 5
        "API text.",  # 6
        ">[!ENDTABS]",  # 7
        ">[!IMPORTANT]",  # 8
        ">",  # 9
        ">Read this.",  # 10
    )
    assert [(c.kind, c.text, c.heading_path, c.anchor) for c in chunks] == [
        ("paragraph", "Action text.", ("Types", "Action"), "types"),
        ("paragraph", "API text.", ("Types", "API"), "types"),
        ("callout", "Important: Read this.", ("Types",), "types"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["# H", "## Sub", "+++ Q?", "+++", "- item with some words", "Plain sentence here. Another one!",
             "|a|b|", "|-|-|", "|1|2|", "```", "code", "Lead in:", "**Q: q?**", "A: a", ">[!NOTE]", ">note text", ""]
        ),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=40),
)
def test_every_chunk_fits_and_is_non_empty(lines, budget):
    doc = parse_markdown("\n".join(lines))
    for chunk in chunk_document(doc, count_tokens=words, max_tokens=budget):
        assert chunk.text.strip()
        assert words(chunk.embed_text) <= budget
        assert chunk.kind in CHUNK_KINDS
        assert 1 <= chunk.line_start <= chunk.line_end <= len(lines)


# ------------------------------------------------------------------- real corpus

corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} not found (shared/corpus next to the repo)")
FORBIDDEN = ("exl-id", "source-git-commit", "{#", "[!DNL", "[!UICONTROL", "<!--", "-->", "&#", "\u200b", "+++", ">[!", "**")


def corpus_chunks(rel: str, max_tokens: int = 200):
    text = (CORPUS / rel).read_text(encoding="utf-8")
    doc = parse_markdown(text)
    return chunk_document(doc, count_tokens=words, max_tokens=max_tokens), text.split("\n")


def _content_words(text: str) -> list[str]:
    return [w for w in text.split() if len(w) >= 4 and w.isalpha()]


@corpus
def test_corpus_chunks_are_clean_fit_and_point_at_their_lines():
    for path in sorted(CORPUS.glob("*/help/using/**/*.md")):
        chunks, source = corpus_chunks(str(path.relative_to(CORPUS)))
        assert chunks, path
        for chunk in chunks:
            where = (path.name, chunk.line_start, chunk.text[:60])
            assert chunk.text.strip(), where
            assert not [f for f in FORBIDDEN if f in chunk.text or f in chunk.embed_text], where
            assert words(chunk.embed_text) <= 200, where
            assert chunk.kind in CHUNK_KINDS
            window = html.unescape("\n".join(source[chunk.line_start - 1 : chunk.line_end]))
            body = chunk.text.split("\n", 1)[1] if chunk.kind == "faq" and "\n" in chunk.text else chunk.text
            if chunk.kind == "table_row":  # headers live on the table's first line, not the row's
                body = " ".join(cell for _, cell in chunk.cells)
            content = _content_words(body)
            if content:  # the first and last words of the chunk are on its lines
                assert content[0] in window and content[-1] in window, where


@corpus
def test_corpus_commented_out_faq_is_in_no_chunk():
    # (Only the English page comments it out; the French translation publishes it.)
    chunks, _ = corpus_chunks("en/help/using/orchestrated/orchestrated-campaigns-faq.md")
    assert not any("running campaigns at scale" in c.text or "scale" == c.anchor for c in chunks)
    assert any("deployment" == c.anchor for c in chunks)


@corpus
def test_corpus_decision_guide_rows_and_steps():
    chunks, _ = corpus_chunks("en/help/using/start/journeys-vs-campaigns.md", max_tokens=256)
    cart = next(c for c in chunks if c.kind == "table_row" and c.text.startswith("Your need: Cart abandonment"))
    assert cart.text == (
        "Your need: Cart abandonment with reminder sequence | Recommended approach: Journeys"
        " | Why: Real-time trigger, wait times, conditional follow-up"
    )
    assert (cart.line_start, cart.line_end, cart.anchor) == (79, 79, "decision-guide")
    assert cart.embed_text.startswith("Journeys vs Campaigns: Choose the right approach > Decision guide > Step 2: Validate your choice\n")
    step1 = next(c for c in chunks if "→ Use Journeys" in c.text)
    assert "Profiles need to move at their own pace" in step1.text
    assert step1.text.startswith("Follow this decision tree to choose the right approach:")
    channels = [c for c in chunks if c.kind == "table_row" and c.heading_path[-1] == "Channels"]
    assert {c.anchor for c in channels} == {"feature-availability"}
    assert channels[0].text == "Channel: Email | Journeys: ✅ | Action Campaigns: ✅ | API-triggered Campaigns: ✅ | Orchestrated Campaigns: ✅"
    faqs = [c for c in chunks if c.kind == "faq"]
    assert len(faqs) == 5 and faqs[1].text.startswith("Can I convert a campaign to a journey or vice versa?\nA: No")


@corpus
def test_corpus_journey_faq_units():
    chunks, source = corpus_chunks("en/help/using/building-journeys/journey-faq.md")
    questions = {c.heading_path[-1] for c in chunks if c.kind == "faq"}
    assert "Why are my messages not being sent in my journey?" in questions
    assert not any("What happens if an action fails" in q for q in questions)
    for chunk in chunks:
        if chunk.kind == "faq":
            assert chunk.text.startswith(chunk.heading_path[-1] + "\n")
    first = next(c for c in chunks if c.heading_path[-1] == "What is a journey in Adobe Journey Optimizer?")
    assert source[first.line_start - 1] == "+++ What is a journey in Adobe Journey Optimizer?"


def test_items_of_a_list_are_also_chunks_of_their_own_sharing_a_group():
    chunks = chunks_of(
        "## Uses",  # 1
        "**Action Campaigns:**",  # 2
        "* **Newsletters**: monthly batch",  # 3
        "* **Launches**: to all customers",  # 4
        "* **Greetings**: on fixed dates",  # 5
    )
    items = [c for c in chunks if c.kind == "list_item"]
    whole = [c for c in chunks if c.kind != "list_item"]
    assert [c.text for c in items] == ["- Newsletters: monthly batch", "- Launches: to all customers", "- Greetings: on fixed dates"]
    assert [(c.line_start, c.line_end) for c in items] == [(3, 3), (4, 4), (5, 5)]
    # The label says which approach the items belong to: embedded, not shown.
    assert all("Action Campaigns:" in c.embed_text and "Action Campaigns" not in c.text for c in items)
    assert len(whole) == 1 and whole[0].group == items[0].group != ""


def test_lists_shorter_than_three_items_are_not_split_into_items():
    chunks = chunks_of("## Two", "* one thing here", "* another thing")
    assert [c.kind for c in chunks] == ["list"]


def test_a_section_titled_by_a_question_gets_a_question_handle_on_the_question_line():
    chunks = chunks_of(
        "# FAQ",  # 1
        "## What is a journey? {#what}",  # 2
        "A journey is a multi-step orchestration.",  # 3
        "+++ Can I stop a journey?",  # 4
        "Yes, with Stop.",  # 5
        "+++",  # 6
        handles=True,
    )
    handles = [c for c in chunks if c.kind == "question"]
    assert [(c.text, c.line_start, c.anchor) for c in handles] == [
        ("What is a journey?", 2, "what"),
        ("Can I stop a journey?", 4, "what"),
    ]
    assert handles[0].embed_text == "FAQ\nWhat is a journey?"
