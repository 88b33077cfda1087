"""The answer composer on hand-made hits: recommendations, matrix cells, FAQ trimming,
approach naming, confidence. Expected answers worked out by hand from the chunks below."""

from __future__ import annotations

import pytest

from kb_service.compose import answer as A
from kb_service.evaluation import approach_named_first
from kb_service.store.lexical import analyze
from kb_service.types import Chunk, Hit


def chunk(text, *, kind="paragraph", heading_path=("Guide", "Section"), cells=(), lang="en", title="Guide", group="", chunk_id=None):
    return Chunk(
        chunk_id=chunk_id or str(abs(hash((text, kind)))),
        source="test",
        path="help/using/start/guide.md",
        lang=lang,
        title=title,
        heading_path=tuple(heading_path),
        anchor="section",
        url="https://example.test/guide#section",
        alt_url=None,
        line_start=1,
        line_end=1,
        kind=kind,
        text=text,
        embed_text=" > ".join(heading_path) + "\n" + text,
        cells=tuple(cells),
        group=group,
    )


def hit(c, score=1.0, focus=None):
    return Hit(chunk=c, score=score, dense_score=0.7, lexical_score=5.0, focus=focus)


CART_ROW = chunk(
    "Your need: Cart abandonment with reminder sequence | Recommended approach: Journeys | Why: Real-time trigger, wait times, conditional follow-up",
    kind="table_row",
    heading_path=("Guide", "Decision guide", "Step 2: Validate your choice"),
    cells=(
        ("Your need", "Cart abandonment with reminder sequence"),
        ("Recommended approach", "Journeys"),
        ("Why", "Real-time trigger, wait times, conditional follow-up"),
    ),
    group="table:75",
)
BEST_FOR_ROW = chunk(
    "Feature: Best for | Journeys: Customer lifecycle journeys, onboarding, cart abandonment | "
    "Campaigns (Action & API-triggered): Promotional campaigns, newsletters, announcements, transactional messages | "
    "Orchestrated Campaigns: Complex seasonal campaigns, multi-step promotions, product launches",
    kind="table_row",
    heading_path=("Guide", "Detailed comparison"),
    cells=(
        ("Feature", "Best for"),
        ("Journeys", "Customer lifecycle journeys, onboarding, cart abandonment"),
        ("Campaigns (Action & API-triggered)", "Promotional campaigns, newsletters, announcements, transactional messages"),
        ("Orchestrated Campaigns", "Complex seasonal campaigns, multi-step promotions, product launches"),
    ),
)
DIRECT_MAIL_ROW = chunk(
    "Channel: Direct mail | Journeys: ✅ | Action Campaigns: ✅ | API-triggered Campaigns: ❌ | Orchestrated Campaigns: ❌",
    kind="table_row",
    heading_path=("Guide", "Feature availability", "Channels"),
    cells=(("Channel", "Direct mail"), ("Journeys", "✅"), ("Action Campaigns", "✅"), ("API-triggered Campaigns", "❌"), ("Orchestrated Campaigns", "❌")),
)
MULTI_ENTITY_ROW = chunk(
    "Capability: Multi-entity data | Journeys: ❌ | Action Campaigns: ❌ | API-triggered Campaigns: ❌ | Orchestrated Campaigns: ✅",
    kind="table_row",
    cells=(("Capability", "Multi-entity data"), ("Journeys", "❌"), ("Action Campaigns", "❌"), ("API-triggered Campaigns", "❌"), ("Orchestrated Campaigns", "✅")),
)
FAQ = chunk(
    "What is send-time optimization?\nSend-Time Optimization (STO) uses AI to predict the best time to send a message to each profile. "
    "It is available for email and push. Learn more about journey properties.",
    kind="faq",
    heading_path=("Frequently Asked Questions", "Advanced concepts", "What is send-time optimization?"),
    title="Journeys Frequently Asked Questions",
)
USE_CASES = chunk(
    "Action Campaigns:\n- Monthly newsletters: Scheduled batch delivery to subscriber segment\n"
    "API-triggered Campaigns:\n- Password resets: Triggered by user action in application",
    kind="section",
    heading_path=("Guide", "Use case examples", "Campaign use cases (Action & API-triggered)"),
)


def compose(question, *hits, lang="en"):
    return A.compose(question, lang, list(hits), analyze=analyze)


def test_decision_row_names_the_recommended_approach_first():
    result = compose("which approach for cart abandonment?", hit(CART_ROW))
    assert result.text.startswith("Journeys — Real-time trigger, wait times, conditional follow-up")
    assert result.text.endswith("[1]")
    assert result.approach == "journey" and approach_named_first(result.text) == "journey"
    assert [c.number for c in result.citations] == [1]


def test_matrix_cell_match_names_its_column_not_the_first_one():
    # "newsletters" sits in the Campaigns column of the "Best for" row.
    result = compose("newsletters", hit(BEST_FOR_ROW))
    assert result.text.startswith("Campaigns (Action & API-triggered) — Best for: Promotional campaigns, newsletters")
    assert "Customer lifecycle" not in result.text and result.approach is None


def test_a_choice_in_the_campaigns_column_names_the_campaign_type_first():
    # Someone choosing is told which of the column's two types fits, then the cell, as the docs state it.
    result = compose("what is best for newsletters?", hit(BEST_FOR_ROW))
    assert result.text.startswith("Recommended: Action Campaign — Campaigns (Action & API-triggered) — Best for: "
                                  "Promotional campaigns, newsletters")
    assert result.approach == "action"


def test_matrix_column_named_in_the_question_wins():
    result = compose("what are orchestrated campaigns best for?", hit(BEST_FOR_ROW))
    assert result.text.startswith("Orchestrated Campaigns — Best for: Complex seasonal campaigns")


def test_check_mark_row_lists_supported_columns_first():
    result = compose("Which approaches support direct mail?", hit(DIRECT_MAIL_ROW))
    assert result.text.startswith("Direct mail: Journeys ✅, Action Campaigns ✅, API-triggered Campaigns ❌, Orchestrated Campaigns ❌")


def test_check_mark_row_with_one_supporter_names_that_approach():
    result = compose("Which approach supports multi-entity data?", hit(MULTI_ENTITY_ROW))
    assert approach_named_first(result.text) == "orchestrated"
    assert result.approach == "orchestrated"


def test_faq_answer_is_trimmed_to_the_sentences_that_answer():
    result = compose("What is send-time optimization?", hit(FAQ))
    assert result.text.startswith("Send-Time Optimization (STO) uses AI to predict the best time")
    assert "What is send-time optimization?" not in result.text  # the question itself is not repeated
    assert "Learn more" not in result.text


def test_use_case_under_a_label_is_attributed_to_that_approach():
    focus = "- Password resets: Triggered by user action in application"
    result = compose("which approach for password reset emails?", hit(USE_CASES, focus=focus))
    assert result.text.startswith("Recommended: API-triggered Campaign — ")
    assert "Password resets: Triggered by user action in application" in result.text
    assert approach_named_first(result.text) == "api"


def test_of_several_quoted_items_the_one_about_the_need_names_the_approach():
    faq = chunk(
        "Can I combine journeys and campaigns in my marketing strategy?\n"
        "A: Absolutely! Most organizations use all three approaches for different scenarios:\n"
        "- Journeys for behavioral, real-time engagement\n"
        "- Action Campaigns for scheduled broadcast communications\n"
        "- API-triggered Campaigns for transactional messages",
        kind="faq",
        heading_path=("Guide", "Common questions"),
    )
    result = compose("a broadcast to all three of our lists: journey or campaign?", hit(faq))
    assert "Journeys for behavioral" in result.text  # the items are quoted in document order
    assert approach_named_first(result.text) == "action"


def test_french_answers_use_the_french_names_of_approaches():
    row = chunk(
        "Vos besoins: Envoyer une newsletter mensuelle aux abonnés | Approche recommandée: Campagne d’action | Pourquoi: Message planifié simple à l’audience",
        kind="table_row",
        lang="fr",
        cells=(("Vos besoins", "Envoyer une newsletter mensuelle aux abonnés"), ("Approche recommandée", "Campagne d’action"), ("Pourquoi", "Message planifié simple à l’audience")),
    )
    result = compose("Quelle approche pour une newsletter mensuelle ?", hit(row), lang="fr")
    assert result.text.startswith("Campagne d’action — Message planifié simple")
    assert approach_named_first(result.text) == "action"


def test_a_recommendation_row_about_another_need_does_not_jump_the_queue():
    other = chunk("Journeys are multi-step orchestrations that react to events.", heading_path=("FAQ", "Journeys"))
    result = compose("which approach for a seasonal promotion?", hit(other, 1.0), hit(CART_ROW, 0.9))
    assert result.citations[0].hit.chunk == other


def test_every_sentence_of_the_answer_comes_from_a_cited_chunk():
    result = compose("which approach for cart abandonment?", hit(CART_ROW), hit(FAQ, 0.95))
    cited = " ".join(c.hit.chunk.text for c in result.citations)
    for line in result.text.splitlines():
        body = line.rsplit(" [", 1)[0]
        for part in body.split(" — "):
            fragment = part.split(" (")[0].replace("Recommended: ", "")
            assert fragment.strip() in cited


@pytest.mark.parametrize(
    "question, expected",
    [
        ("which approach for cart abandonment?", True),
        ("What should I use for an API-triggered transactional message?", True),
        ("Quelle approche pour l'abandon de panier ?", True),
        ("on veut relancer les paniers abandonnés, on part sur quoi ?", True),
        ("in general what do people use for transactional messages?", True),
        ("For scheduled broadcast comms, which of the three approaches is the usual choice?", True),
        ("what do most teams usually use for newsletters?", True),
        ("What is send-time optimization?", False),
        ("what do people say about journeys?", False),
        ("Qu'est-ce qu'un parcours unitaire ?", False),
        # Use cases typed as statements: a message for everyone or each customer.
        ("happy anniversary email for each member on the day they joined", True),
        ("une offre de bienvenue pour chaque nouvel abonné", True),
        ("weekly digest to all subscribers every monday", True),
        ("what does the jump activity do", False),
        ("an email for each customer, can journeys do that?", False),
    ],
)
def test_approach_questions_are_recognised(question, expected):
    assert A.is_approach_question(question) is expected


def test_approach_labels_naming_two_approaches_name_none():
    assert A.approach_of_label("Journeys vs Campaigns") is None
    assert A.approach_of_label("Use Action or API-triggered Campaigns") is None
    assert A.approach_of_label("API triggered campaigns") == "api"
    assert A.approach_of_label("Cas d’utilisation de parcours") == "journey"
    assert A.approach_of_label("Journey Optimizer overview") is None


def test_confidence_is_monotonic_in_the_evidence_and_bounded():
    strong = {"top_dense": 0.8, "coverage": 1.0, "lexical_per_term": 2.0, "agreement": 1.0, "unknown_terms": 0, "unknown_names": 0, "top_coverage": 1.0, "french": 0}
    weak = dict(strong, top_dense=0.05, coverage=0.2, unknown_terms=4, unknown_names=2, top_coverage=0.1, lexical_per_term=0.1)
    assert 0.0 <= A.confidence(weak) < A.ABSTAIN_BELOW < A.confidence(strong) <= 1.0


PRICING_FREE = chunk("Journey Optimizer licensing is described in the product description. Campaigns run on a schedule.")
LIMITS = chunk("Journeys are limited to a maximum of 50 activities. Keep journeys simple.", heading_path=("FAQ", "Limits"))


def subject(question):
    return set(analyze(question, "en"))


@pytest.mark.parametrize(
    "question",
    ["How much does Journey Optimizer cost per month?", "What is the pricing of orchestrated campaigns?", "Combien coûte une licence ?"],
)
def test_price_questions_need_an_amount_in_the_hits(question):
    lang = "fr" if "Combien" in question else "en"
    assert A.missing_answer_type(question, lang, [hit(PRICING_FREE)], {"licenc"}, analyze) is not None
    priced = chunk("The Prime package costs $100 per month.")
    assert A.missing_answer_type(question, lang, [hit(priced)], {"licenc"}, analyze) is None


def test_quantity_questions_need_a_figure_about_their_subject():
    question = "how many activities can a journey have?"
    assert A.missing_answer_type(question, "en", [hit(LIMITS)], {"activ"}, analyze) is None
    # a figure about something else does not answer "how many sandboxes"
    assert A.missing_answer_type("how many sandboxes can I create?", "en", [hit(LIMITS)], {"sandbox"}, analyze) is not None


def test_a_figure_sharing_two_of_the_questions_words_answers_it():
    # The rarest words ("hold", "single") are not what is counted; "journey" and "activities" are.
    question = "How many activities can a single journey hold at most?"
    assert A.missing_answer_type(question, "en", [hit(LIMITS)], {"hold", "singl"}, analyze) is None
    # one shared word is not enough: "journeys" alone does not answer a count of sandboxes
    assert A.missing_answer_type("how many journeys fit in one sandbox?", "en", [hit(LIMITS)], {"sandbox"}, analyze) is not None


@pytest.mark.parametrize("question", [
    "our pricing engine fires an event when a flash sale starts: which approach?",
    "Bonjour, notre outil de pricing publie un événement dès qu'une vente flash démarre. Quelle approche ?",
])
def test_the_askers_own_pricing_system_is_not_a_price_question(question):
    lang = "fr" if "Bonjour" in question else "en"
    assert A.missing_answer_type(question, lang, [hit(PRICING_FREE)], set(), analyze) is None


def test_questions_that_mention_a_count_in_passing_are_not_quantity_questions():
    question = "how can I see how many people are in my journey right now?"
    assert A.missing_answer_type(question, "en", [hit(FAQ)], {"peopl"}, analyze) is None
    assert A.missing_answer_type("when prices drop, what should I use?", "en", [hit(FAQ)], {"drop"}, analyze) is None


def test_list_items_are_joined_without_bullets():
    assert A.join_units(["- Monthly newsletters: batch", "- Launches: to all"]) == "Monthly newsletters: batch; Launches: to all"
    assert A.join_units(["First sentence.", "- an item"]) == "First sentence. an item"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Can journeys be triggered by an API call?", True),
        ("Which approaches support direct mail?", True),
        ("Peut-on envoyer des SMS depuis une campagne orchestrée ?", True),
        ("What is send-time optimization?", False),
    ],
)
def test_capability_questions_are_recognised(question, expected):
    assert A.is_capability_question(question) is expected


@pytest.mark.parametrize(
    "label, generic",
    [
        ("Campaigns: Simple batch or triggered delivery", True),
        ("Use Action or API-triggered Campaigns", True),
        ("Campaigns (Action & API-triggered)", True),
        ("Campagnes : diffusion simple par lots ou déclenchée", True),
        ("Action Campaigns", False),  # names one type: approach_of_label's job
        ("Orchestrated Campaigns", False),
        ("Journeys", False),
    ],
)
def test_labels_naming_campaigns_without_a_type(label, generic):
    assert A.names_campaigns_generically(label) is generic


@pytest.mark.parametrize(
    "question, kind",
    [
        ("which approach for a monthly newsletter?", "action"),
        ("scheduled broadcast to everyone on Monday", "action"),
        ("our order system must trigger a receipt email", "api"),
        ("shipping notifications from the warehouse", "api"),
        ("password reset emails", "api"),
        ("quelle approche pour les confirmations de commande ?", "api"),
        ("vœux de fin d'année à une date fixe", "action"),
    ],
)
def test_the_campaign_type_a_question_is_about(question, kind):
    assert A.campaign_kind(question) == kind


API_TRIGGERING_ROW = chunk(
    "Capability: API triggering | Journeys: ❌ | Action Campaigns: ❌ | API-triggered Campaigns: ✅ | Orchestrated Campaigns: ❌",
    kind="table_row",
    heading_path=("Guide", "Feature availability", "Advanced capabilities"),
    cells=(("Capability", "API triggering"), ("Journeys", "❌"), ("Action Campaigns", "❌"),
           ("API-triggered Campaigns", "✅"), ("Orchestrated Campaigns", "❌")),
)


def test_the_matrix_row_whose_label_the_question_names_answers():
    # Retrieval put "Direct mail" first on the word "directly"; the question names API triggering.
    result = compose("Can I trigger a journey directly with an API call?", hit(DIRECT_MAIL_ROW, 0.9),
                     hit(API_TRIGGERING_ROW, 0.8))
    assert result.text.startswith("API triggering:")
    assert result.citations[0].hit.chunk is API_TRIGGERING_ROW


def test_the_top_matrix_row_stays_when_no_other_label_fits_better():
    result = compose("can journeys send direct mail?", hit(DIRECT_MAIL_ROW, 0.9), hit(API_TRIGGERING_ROW, 0.8))
    assert result.text.startswith("Direct mail:")
