"""Experience League Markdown -> blocks: each dialect item on a tiny hand-made page, then the real corpus."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb_service.ingest.markdown import Link, closes_fence, parse_markdown, slugify

CORPUS = Path(__file__).parents[2] / "shared/corpus"


def page(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def only(blocks, kind):
    return [b for b in blocks if b.kind == kind]


def all_text(doc) -> str:
    return "\n".join(b.text for b in doc.blocks)


# ----------------------------------------------------------------- front matter


def test_front_matter_becomes_meta_and_never_text_and_lines_stay_true():
    doc = parse_markdown(
        page(
            "---",  # 1
            "title: Get started with [!DNL Journeys]",  # 2
            "description: Learn &amp; build",  # 3
            "keywords: journey, campaign ,  orchestration",  # 4
            "exl-id: 6a660605-5f75",  # 5
            "---",  # 6
            "# Title {#top}",  # 7
            "",  # 8
            "Body text.",  # 9
        )
    )
    assert doc.meta.title == "Get started with Journeys"
    assert doc.meta.description == "Learn & build"
    assert doc.meta.keywords == ("journey", "campaign", "orchestration")
    assert doc.meta.extra == {"exl-id": "6a660605-5f75"}
    assert "6a660605" not in all_text(doc)
    [body] = doc.blocks
    assert (body.text, body.line_start, body.line_end) == ("Body text.", 9, 9)


def test_nested_yaml_front_matter_is_flattened_into_extra_strings():
    doc = parse_markdown(page("---", "title: T", "feature_v2:", "  - id: aaa", "  - id: bbb", "hide: yes", "---", "Text"))
    assert doc.meta.extra == {"feature_v2": "id: aaa, id: bbb", "hide": "yes"}
    assert doc.blocks[0].line_start == 8


# ----------------------------------------------------------------------- headings


def test_heading_without_explicit_anchor_under_the_title_gets_a_slug():
    doc = parse_markdown(page("# FAQ {#faq}", "## General concepts", "Text."))
    [block] = doc.blocks
    assert block.anchor == "general-concepts"  # the page title's {#faq} is not a section


def test_headings_give_path_and_explicit_or_slug_anchor():
    doc = parse_markdown(
        page(
            "# Journeys vs Campaigns{#jvc}",  # 1: no space before the anchor
            "## Decision guide {#decision-guide}",  # 2
            "### Step 1: What's your execution requirement?",  # 3
            "Step one text.",  # 4
            "## Next steps",  # 5
            "Next text.",  # 6
        )
    )
    step, nxt = doc.blocks
    assert step.heading_path == ("Journeys vs Campaigns", "Decision guide", "Step 1: What's your execution requirement?")
    # The nearest explicit {#id} below the title is cited (it is the same in every language).
    assert step.anchor == "decision-guide"
    assert step.heading_levels == (1, 2, 3)
    assert nxt.heading_path == ("Journeys vs Campaigns", "Next steps")  # H3 popped by the H2
    assert nxt.anchor == "next-steps"
    assert "{#" not in "".join(step.heading_path)


def test_heading_markup_is_resolved_in_path():
    doc = parse_markdown(page("### &#x200B;1. **Planifier votre parcours** {#plan}", "Texte."))
    assert doc.blocks[0].heading_path == ("1. Planifier votre parcours",)
    assert doc.blocks[0].anchor == "plan"


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("Step 1: What's your execution requirement?", "step-1-what-s-your-execution-requirement"),
        ("Étape 2 : valider votre choix", "etape-2-valider-votre-choix"),
        ("Orchestrated campaigns & journeys", "orchestrated-campaigns-journeys"),
        ("  --Hello__World--  ", "hello-world"),
        ("???", ""),
    ],
)
def test_slugify(heading, slug):
    assert slugify(heading) == slug


# --------------------------------------------------------------------- accordions


def test_accordion_is_a_faq_unit_under_the_enclosing_heading():
    doc = parse_markdown(
        page(
            "## General concepts",  # 1
            "",  # 2
            "+++ What is a [!DNL journey]?",  # 3
            "",  # 4
            "A journey is a flow.",  # 5
            "",  # 6
            "+++",  # 7
            "",  # 8
            "After the accordion.",  # 9
        )
    )
    question, answer, after = doc.blocks
    assert (question.kind, question.text, question.line_start) == ("question", "What is a journey?", 3)
    assert answer.heading_path == ("General concepts", "What is a journey?")
    assert answer.anchor == "general-concepts"
    assert answer.container == "faq"
    assert answer.section == question.section
    assert (after.container, after.heading_path) == ("", ("General concepts",))
    assert after.section != answer.section
    assert doc.warnings == ()


def test_indented_accordion_without_space_closes_inside_a_list():
    # As in get-started-with-campaigns.md: "+++Title", body indented, closing "    +++".
    doc = parse_markdown(
        page(
            "+++Assign campaign permissions",  # 1
            "",  # 2
            "1. Navigate to **[!UICONTROL Roles]**.",  # 3
            "",  # 4
            "    1. Click **[!UICONTROL Add user]**.",  # 5
            "",  # 6
            "    +++",  # 7
            "",  # 8
            "Outside.",  # 9
        )
    )
    question, steps, outside = doc.blocks
    assert question.text == "Assign campaign permissions"
    assert steps.kind == "list" and steps.container == "faq"
    assert steps.text == "1. Navigate to Roles.\n  1. Click Add user."
    assert (steps.line_start, steps.line_end) == (3, 5)
    assert outside.container == ""


def test_unterminated_accordion_warns_and_closes_at_end():
    doc = parse_markdown(page("+++ Open question", "", "Answer text."))
    assert doc.blocks[-1].container == "faq"
    assert any("never closed" in w for w in doc.warnings)


# ------------------------------------------------------------ callouts and boxes


def test_callout_keeps_content_without_markers():
    doc = parse_markdown(
        page(
            "Intro.",  # 1
            "",  # 2
            ">[!NOTE]",  # 3
            ">",  # 4
            ">Not sure? Start with **Action campaigns**.",  # 5
            ">",  # 6
            ">Second paragraph.",  # 7
        )
    )
    _, note = doc.blocks
    assert note.kind == "callout"
    assert note.text == "Note: Not sure? Start with Action campaigns.\nSecond paragraph."
    assert (note.line_start, note.line_end) == (5, 7)


def test_shadebox_markers_dropped_content_kept_as_normal_content():
    doc = parse_markdown(page(">[!BEGINSHADEBOX]", "", "**Best practices**", "", "* Define a goal.", "", ">[!ENDSHADEBOX]"))
    label, items = doc.blocks
    assert (label.kind, label.text, label.container, label.binds_next) == ("paragraph", "Best practices", "", True)
    assert (items.kind, items.text, items.line_start) == ("list", "- Define a goal.", 5)
    assert "SHADEBOX" not in all_text(doc)


def test_tabs_are_subsections_named_after_the_tab():
    doc = parse_markdown(
        page(
            "## Choose your campaign type {#campaign-types}",  # 1
            ">[!BEGINTABS]",  # 2
            ">[!TAB Action campaigns (Scheduled)]",  # 3
            "Scheduled text.",  # 4
            ">[!TAB API triggered campaigns]",  # 5
            "API text.",  # 6
            ">[!ENDTABS]",  # 7
            "After tabs.",  # 8
        )
    )
    first, second, after = doc.blocks
    assert first.heading_path == ("Choose your campaign type", "Action campaigns (Scheduled)")
    assert second.heading_path == ("Choose your campaign type", "API triggered campaigns")
    assert first.anchor == second.anchor == after.anchor == "campaign-types"
    assert first.section != second.section
    assert (first.container, after.container) == ("tab", "")
    assert after.heading_path == ("Choose your campaign type",)


def test_contextual_help_is_metadata_not_content():
    doc = parse_markdown(
        page(
            "# Campaigns",
            ">[!CONTEXTUALHELP]",
            '>id="ajo_campaigns_schedule"',
            '>title="Campaign schedule"',
            '>abstract="<b>By default</b>, campaigns start upon activation."',
            "",
            "Real text.",
        )
    )
    assert [b.text for b in doc.blocks] == ["Real text."]


def test_more_like_this_is_a_list_of_links():
    doc = parse_markdown(
        page(
            ">[!MORELIKETHIS]",
            ">",
            ">* [Guardrails](../orchestrated/guardrails.md)",
            '>* [Product description](https://helpx.adobe.com/x.html){target="_blank"}',
        )
    )
    [more] = doc.blocks
    assert (more.kind, more.text) == ("list", "- Guardrails\n- Product description")
    assert more.heading_path[-1] == "More like this"
    assert doc.links == (Link("../orchestrated/guardrails.md", "", 3),)


def test_video_directive_leaves_no_text():
    doc = parse_markdown(page(">[!VIDEO](https://video.tv.adobe.com/v/3424996)", "", "Text."))
    assert [b.text for b in doc.blocks] == ["Text."]


# ----------------------------------------------------------- inline dialect & html


def test_dialect_spans_attribute_lists_and_card_containers():
    doc = parse_markdown(
        page(
            ":::: landing-cards-container",  # 1
            ":::",  # 2
            "![icon](https://cdn.example.com/i.svg)",  # 3
            "",  # 4
            "Use [!DNL Journey Optimizer] and click **[!UICONTROL Save]** in [the hub](hub.md){target=\"_blank\"}.",  # 5
            ":::",  # 6
            "::::",  # 7
            "![](assets/x.png){zoomable=\"yes\"}",  # 8
        )
    )
    [para] = doc.blocks
    assert para.text == "Use Journey Optimizer and click Save in the hub."
    assert para.line_start == 5
    assert doc.links == (Link("hub.md", "", 5),)


def test_html_comments_hide_content_across_lines_and_mid_line():
    doc = parse_markdown(
        page(
            "## Kept {#kept}",  # 1
            "<!--",  # 2
            "## Are there recommended practices for running campaigns at scale? {#scale}",  # 3
            "",  # 4
            "+++ Hidden accordion",  # 5
            "+++",  # 6
            "-->",  # 7
            "Visible <!-- hidden --> text <!-- a",  # 8
            "b --> end.",  # 9
            "",  # 10
            "Last.",  # 11
        )
    )
    assert [b.text for b in doc.blocks] == ["Visible text\nend.", "Last."]
    assert doc.blocks[-1].line_start == 11
    assert all(b.heading_path == ("Kept",) for b in doc.blocks)


def test_raw_html_table_becomes_rows_of_text_with_links():
    doc = parse_markdown(
        page(
            '<table style="table-layout:auto">',  # 1
            '<tr style="border: 0;">',  # 2
            '<td><img alt="icon" src="a.svg"></td><td><b>On-Demand Audiences</b><br/>Query &amp; segment.</td></tr>',  # 3
            "<tr>",  # 4
            '<td><a href="gs-campaign-creation.md#steps"><strong>Configuration steps</strong></a></td><td>Two</td></tr>',  # 5
            "</table>",  # 6
        )
    )
    [table] = doc.blocks
    assert table.text == "On-Demand Audiences Query & segment.\nConfiguration steps | Two"
    assert [(i.line_start, i.line_end) for i in table.items] == [(3, 3), (5, 5)]
    assert doc.links == (Link("gs-campaign-creation.md", "steps", 5),)


def test_entities_and_zero_width_characters():
    doc = parse_markdown(page("&#x200B;* **Récupération** : l&#39;achat", "&#x200B;* Deux\u200b\ufeff items &#x200C;"))
    [items] = doc.blocks
    assert items.kind == "list"
    assert items.text == "- Récupération : l'achat\n- Deux items"


def test_links_keep_text_record_md_targets_and_drop_images():
    doc = parse_markdown(
        page(
            "See [journey types](../building-journeys/journey.md#journey-types-comparison) and",  # 1
            "[Adobe](https://adobe.com/x.md) and [video](#video) ![diagram](assets/d.png).",  # 2
        )
    )
    assert doc.blocks[0].text == "See journey types and\nAdobe and video."
    assert doc.links == (Link("../building-journeys/journey.md", "journey-types-comparison", 1),)


# ----------------------------------------------------------------- code & tables


def test_code_fences_are_code_blocks_with_content_lines():
    doc = parse_markdown(page("Intro:", "```", "A → B", "C → D", "```", "~~~text", "x", "~~~"))
    _, first, second = doc.blocks
    assert (first.kind, first.text, first.line_start, first.line_end) == ("code", "A → B\nC → D", 3, 4)
    assert (second.text, second.line_start) == ("x", 7)


def test_code_fence_hides_dialect_markers():
    doc = parse_markdown(page("```", "+++ not an accordion", "<!-- not a comment -->", "```"))
    [code] = doc.blocks
    assert code.text == "+++ not an accordion\n<!-- not a comment -->"
    assert doc.warnings == ()


def test_unterminated_fence_warns_and_takes_rest_of_page():
    doc = parse_markdown(page("Text.", "```", "code line", "+++ Not a question", "more"))
    assert doc.blocks[-1].kind == "code"
    assert doc.blocks[-1].text == "code line\n+++ Not a question\nmore"
    assert any("code fence" in w for w in doc.warnings)


def test_pipe_table_has_header_and_rows_with_their_own_lines():
    doc = parse_markdown(
        page(
            "| Your need | Recommended approach |",  # 1
            "|-----------|---------------------|",  # 2
            "| **Cart abandonment** | Journeys ✅ |",  # 3
            "| Newsletter | Action Campaign<br>or API |",  # 4
        )
    )
    [table] = doc.blocks
    assert table.header == ("Your need", "Recommended approach")
    assert [(r.cells, r.line) for r in table.rows] == [
        (("Cart abandonment", "Journeys ✅"), 3),
        (("Newsletter", "Action Campaign; or API"), 4),
    ]
    assert (table.line_start, table.line_end) == (1, 4)
    assert "**" not in table.text


def test_table_inside_a_list_item_becomes_its_own_block():
    doc = parse_markdown(
        page(
            "* **Permissions** - You need permissions.",  # 1
            "",  # 2
            "    | Campaign type | Permissions |",  # 3
            "    |---|---|",  # 4
            "    | **Action** | Admin<br>Viewer |",  # 5
        )
    )
    items, table = doc.blocks
    assert (items.kind, items.text, items.line_end) == ("list", "- Permissions - You need permissions.", 1)
    assert table.kind == "table" and table.rows[0].cells == ("Action", "Admin; Viewer")


# ------------------------------------------------------------------------- Q/A


def test_bold_q_and_a_pairs_are_faq_units():
    doc = parse_markdown(
        page(
            "## Common questions {#common-questions}",  # 1
            "",  # 2
            "**Q: Can I combine journeys and campaigns?**",  # 3
            "",  # 4
            "A: Absolutely!",  # 5
            "",  # 6
            "**Q : Puis-je convertir une campagne ?**",  # 7
            "",  # 8
            "R : Non.",  # 9
            "## Next",  # 10
            "Text.",  # 11
        )
    )
    kinds = [(b.kind, b.text, b.heading_path[-1], b.container) for b in doc.blocks]
    assert kinds == [
        ("question", "Can I combine journeys and campaigns?", "Can I combine journeys and campaigns?", "faq"),
        ("paragraph", "A: Absolutely!", "Can I combine journeys and campaigns?", "faq"),
        ("question", "Puis-je convertir une campagne ?", "Puis-je convertir une campagne ?", "faq"),
        ("paragraph", "R : Non.", "Puis-je convertir une campagne ?", "faq"),
        ("paragraph", "Text.", "Next", ""),
    ]
    assert doc.blocks[1].anchor == "common-questions"
    assert doc.blocks[0].section != doc.blocks[2].section


# -------------------------------------------------------------------- robustness

_DIALECT = st.sampled_from(
    ["---", "+++", "+++ Q?", ">[!NOTE]", ">[!TAB x]", ">[!ENDTABS]", ">", "<!--", "-->", "```", "~~~", "|a|b|",
     "|-|-|", "# H {#h}", "* item", "1. one", "<table><tr><td>x", "[!DNL y]", "&#x200B;", ":::", "**Q: q?**", "text", ""]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DIALECT, st.text(max_size=20)), max_size=30))
def test_never_raises_and_lines_stay_in_range(lines):
    text = "\n".join(lines)
    doc = parse_markdown(text)
    n_lines = len(re.split(r"\r\n|\r|\n", text))  # CommonMark line endings, as the parser counts
    for block in doc.blocks:
        assert 1 <= block.line_start <= block.line_end <= max(n_lines, 1)


# ------------------------------------------------------------------- real corpus

corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} not found (shared/corpus next to the repo)")


def corpus_doc(rel: str):
    text = (CORPUS / rel).read_text(encoding="utf-8")
    return parse_markdown(text), text.split("\n")


@corpus
def test_corpus_pages_parse_without_warnings():
    pages = sorted(CORPUS.glob("*/help/using/**/*.md"))
    assert len(pages) == 12
    for path in pages:
        doc = parse_markdown(path.read_text(encoding="utf-8"))
        assert doc.warnings == (), path
        assert doc.meta.title, path


@corpus
def test_corpus_block_lines_point_at_their_text():
    for path in sorted(CORPUS.glob("*/help/using/**/*.md")):
        doc, source = corpus_doc(str(path.relative_to(CORPUS)))
        for block in doc.blocks:
            first_line = block.text.split("\n")[0]
            if block.kind == "callout":
                first_line = first_line.split(": ", 1)[1]
            word = next((w for w in first_line.split() if len(w) >= 4 and w.isalpha()), None)
            if word:
                window = html.unescape("\n".join(source[block.line_start - 1 : block.line_end]))
                assert word in window, (path.name, block.line_start, word)


@corpus
def test_corpus_hidden_and_metadata_text_is_gone():
    faq, _ = corpus_doc("en/help/using/orchestrated/orchestrated-campaigns-faq.md")
    assert "recommended practices for running campaigns at scale" not in all_text(faq)
    journey_faq, _ = corpus_doc("en/help/using/building-journeys/journey-faq.md")
    assert "What happens if an action fails" not in all_text(journey_faq)
    assert "Message not approved" not in all_text(journey_faq)
    campaigns, _ = corpus_doc("en/help/using/campaigns/get-started-with-campaigns.md")
    assert "ajo_campaigns" not in all_text(campaigns)
    assert "exl-id" in campaigns.meta.extra


@corpus
def test_corpus_links_and_structure_of_journeys_vs_campaigns():
    doc, _ = corpus_doc("en/help/using/start/journeys-vs-campaigns.md")
    assert Link("../building-journeys/journey.md", "journey-types-comparison", 251) in doc.links
    step2 = next(b for b in doc.blocks if b.kind == "table" and b.heading_path[-1] == "Step 2: Validate your choice")
    assert step2.anchor == "decision-guide"
    assert step2.rows[2] == type(step2.rows[2])(
        ("Cart abandonment with reminder sequence", "Journeys", "Real-time trigger, wait times, conditional follow-up"), 79
    )


@corpus
def test_corpus_french_zero_width_list_items_are_lists():
    doc, _ = corpus_doc("fr/help/using/start/journeys-vs-campaigns.md")
    uses = [b for b in doc.blocks if b.kind == "list" and "abandon de panier" in b.text]
    assert uses and uses[0].text.startswith("- Récupération après abandon de panier")


@pytest.mark.parametrize("line, opening, closes", [
    ("```", "```", True),
    ("````", "```", True),           # a longer run of the same character closes
    ("```   ", "```", True),         # trailing spaces only
    ("``", "```", False),            # shorter than the opening run
    ("```python", "```", False),     # an info string: an opening line, content here
    ("~~~", "```", False),           # the other fence character
    ("   ```", "````", False),       # shorter again, even indented
    ("text", "```", False),
])
def test_closes_fence_follows_commonmark(line, opening, closes):
    assert closes_fence(line, opening) is closes


def test_a_shorter_fence_line_inside_a_longer_fence_stays_code():
    # The copy of the closing check that lacked the length test ended this fence at "```".
    parsed = parse_markdown("# T\n\n````\n```\n[!UICONTROL kept]\n````\n\nAfter.\n")
    code = [b for b in parsed.blocks if b.kind == "code"]
    assert len(code) == 1 and "[!UICONTROL kept]" in code[0].text
