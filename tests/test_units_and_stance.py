"""Whole answer units and the option each speaks for, on hand-made chunks (pure)."""

from __future__ import annotations

from kb_service.compose.stance import (
    is_comparison_material,
    matrix_columns,
    prescribed_option,
    prescribed_stances,
    unit_stances,
)
from kb_service.compose.extract import render
from kb_service.compose.passages import Passage
from kb_service.profiles import load_profile
from kb_service.text.options import OptionCatalog
from kb_service.text.units import split_units
from kb_service.types import Chunk, Hit

CATALOG = OptionCatalog(load_profile("journey-optimizer"))
GUIDE = "help/using/start/journeys-vs-campaigns.md"


def chunk(text, kind="list", path=GUIDE, heading=("Guide", "Use cases"), lang="en", cells=()):
    return Chunk(chunk_id="c", source="s", path=path, lang=lang, title="Guide", heading_path=heading, anchor="a",
                 url="u", alt_url=None, line_start=1, line_end=2, kind=kind, text=text, embed_text=text, cells=cells)


def test_list_items_keep_their_lead_in_and_an_faq_question_is_not_a_unit():
    units = split_units("**Q: Can I combine them?**\n\nA: Absolutely! Most teams use both:\n- Journeys for behaviour\n\nAfter the list.", "section")
    assert [u.text for u in units] == ["Absolutely!", "Journeys for behaviour", "After the list."]
    assert units[1].label == "Most teams use both:" and units[2].label == ""


def test_a_decision_step_binds_its_question_and_its_items_to_its_answer():
    units = split_units("**Simple message delivery?**\n→ **Use Action or API-triggered Campaigns**\n- All at once", "section")
    assert [u.kind for u in units] == ["step", "step", "item"]
    assert units[0].label.startswith("→") and units[2].label.startswith("→")


def test_sentences_do_not_split_on_abbreviations_or_decimals():
    units = split_units("Waits last up to 2.5 days, e.g. for a reminder. Then it ends.", "paragraph")
    assert [u.text for u in units] == ["Waits last up to 2.5 days, e.g. for a reminder.", "Then it ends."]


def test_items_under_an_option_label_speak_for_that_option():
    text = "**Action Campaigns:**\n* **Monthly newsletters**: Scheduled batch delivery\n\n**API-triggered Campaigns:**\n* **Order confirmations**: Triggered by e-commerce system"
    stances = unit_stances(chunk(text), CATALOG, comparison=True)
    assert [s.option for s in stances] == ["action", "api"]


def test_outside_comparison_material_nothing_speaks_for_an_option():
    how_to = chunk("Use Journeys to send a reminder.", kind="paragraph", path="help/using/building-journeys/journey.md",
                   heading=("Get started with journeys", "Design in the canvas"))
    assert not is_comparison_material(how_to, CATALOG, (GUIDE,))
    assert [s.option for s in unit_stances(how_to, CATALOG, comparison=False)] == [None]
    vs = chunk("x", path="help/using/building-journeys/journey.md", heading=("Journeys", "Journeys vs Campaigns: When to use each"))
    assert is_comparison_material(vs, CATALOG, ())


def test_a_lead_in_prescribing_what_to_build_speaks_for_it_outside_comparison_material():
    faq = chunk("**How do I trigger a journey when inventory is low?**\n\nCreate a **business event journey**:\n\n"
                "1. Configure a business event\n2. Select target audience\n\nLearn more about events.", kind="faq",
                path="help/using/building-journeys/journey-faq.md", heading=("FAQ", "Advanced"))
    stances = prescribed_stances(faq, CATALOG)
    assert [s.option for s in stances] == ["journey", "journey", None]
    # The answer quotes what to build, not only the step.
    passage = Passage(hit=Hit(chunk=faq, score=1.0), units=stances, similarity=(0.0,) * 3, matrix={})
    assert render(passage, [0]).startswith("Create a business event journey: Configure a business event")
    assert prescribed_option("Use unitary journeys when:", "en", CATALOG) == "journey"
    assert prescribed_option("Créez un parcours d’événement métier :", "fr", CATALOG) == "journey"
    # The option's name qualifies a tool or a part, not what to build.
    assert prescribed_option("Use the journey designer to build your flow:", "en", CATALOG) is None
    assert prescribed_option("Set up the foundation of your campaign:", "en", CATALOG) is None
    assert prescribed_option("Utilisez le concepteur de parcours pour créer votre flux :", "fr", CATALOG) is None
    assert prescribed_option("Most teams use both:", "en", CATALOG) is None


def test_decision_rows_speak_for_their_option_and_matrix_rows_for_none():
    decision = chunk("Your need: Cart abandonment | Recommended approach: Journeys | Why: Real-time trigger", kind="table_row",
                     cells=(("Your need", "Cart abandonment"), ("Recommended approach", "Journeys"), ("Why", "Real-time trigger")))
    assert {s.option for s in unit_stances(decision, CATALOG, comparison=True)} == {"journey"}
    matrix = chunk("Channel: Email | Journeys: ✅ | Orchestrated Campaigns: ❌", kind="table_row",
                   cells=(("Channel", "Email"), ("Journeys", "✅"), ("Orchestrated Campaigns", "❌")))
    assert {s.option for s in unit_stances(matrix, CATALOG, comparison=True)} == {None}
    assert matrix_columns(matrix, CATALOG) == {1: "journey", 2: "orchestrated"}


def test_the_product_name_is_never_an_option_and_longest_names_win():
    assert CATALOG.named("Adobe Journey Optimizer offers orchestrated campaigns", "en") == ["orchestrated"]
    # Another product's name holding an option's word is no option either.
    assert CATALOG.named("Adobe Campaign Standard: Use Campaign Standard actions to send messages", "en") == []
    assert CATALOG.sole("→ Use Action or API-triggered Campaigns", "en") == "campaigns"
    assert CATALOG.sole("Campagne déclenchée par l’API", "fr") == "api"
    assert OptionCatalog(None).named("journeys and campaigns", "en") == []


def test_a_pointer_to_another_page_is_recognised_in_both_languages():
    from kb_service.text.units import is_pointer

    assert is_pointer("Learn more about [journeys](journey.md).") and is_pointer("➡️ **More questions?** View the FAQ")
    assert is_pointer("En savoir plus sur les campagnes orchestrées.") and not is_pointer("Journeys learn from events.")
    # A page's own contents line and its support pointer say nothing either.
    assert is_pointer("Need more details? Use the feedback options at the bottom of this page.")
    assert is_pointer("Vous trouverez ci-dessous les questions fréquentes sur les campagnes orchestrées.")
    assert not is_pointer("Journeys need more details than campaigns.")
    assert is_pointer("**Sur cette page :** trouvez des réponses aux questions fréquentes")
    assert is_pointer("Now that you understand campaigns in Journey Optimizer, choose your campaign type:")


def test_a_passage_of_pointers_only_is_not_quoted(corpus_kb):
    # The journey FAQ's opening paragraph ("You will find below …", "Need more details? …")
    # points at the FAQ and at support: a follow-up matching its words gets a passage that says something.
    messages = [{"role": "user", "content": "How many activities can a journey have?"}]
    first = corpus_kb.chat(messages)
    messages += [{"role": "assistant", "content": first.answer},
                 {"role": "user", "content": "what if my flow needs more than that?"}]
    answer = corpus_kb.chat(messages).answer
    assert "Need more details" not in answer and "find below" not in answer


def test_a_list_item_chunked_alone_speaks_for_the_member_its_section_files_it_under(corpus_kb):
    # The guide's "Campaign use cases (action and API)" heading names the group; the item's
    # own chunk lost the "API-triggered Campaigns:" label its section's chunk still has.
    items = [c for c in corpus_kb.index.chunks
             if c.lang == "fr" and c.kind == "list_item" and "système logistique" in c.text
             and c.path.endswith("journeys-vs-campaigns.md")]
    assert items
    for chunk in items:
        assert {s.option for s in corpus_kb._stances[chunk.chunk_id] if s.option} == {"api"}


def test_a_lead_in_is_quoted_with_the_short_list_it_promises(corpus_kb):
    # "Journey capping allows you to …:" alone promised the two kinds of caps and gave none.
    answer = corpus_kb.ask("What is journey capping and what kinds of caps exist?").answer
    assert "Entry capping" in answer and "Concurrency capping" in answer
