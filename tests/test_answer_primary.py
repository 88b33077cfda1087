"""Which hit an approach answer is composed from, when the top one is a decision row about
another need. Hand-made hits in the shape of the comparison guide's chunks."""

from __future__ import annotations

from kb_service.evaluation import approach_named_first
from kb_service.compose import answer as A
from kb_service.store.lexical import analyze
from tests.test_answer import CART_ROW, chunk, compose, hit

STEP_ONE = chunk(
    "Follow this decision tree to choose the right approach:\n"
    "Simple message delivery to an audience?\n→ Use Action or API-triggered Campaigns\n"
    "- No complex multi-step logic needed\n"
    "Complex batch workflow with advanced segmentation?\n→ Use Orchestrated Campaigns\n"
    "- Need multi-entity data (products, stores, bookings)",
    kind="section",
    heading_path=("Guide", "Decision guide", "Step 1: What's your execution requirement?"),
)
CAMPAIGN_USE_CASES = chunk(
    "Action Campaigns:\n- Monthly newsletters: Scheduled batch delivery to subscriber segment\n"
    "- Promotional announcements: Time-sensitive offers to target audiences\n"
    "API-triggered Campaigns:\n- Shipping notifications: Triggered by logistics system",
    kind="section",
    heading_path=("Guide", "Use case examples", "Campaign use cases (Action & API-triggered)"),
)
ORCHESTRATED_CAPABILITIES = chunk(
    "Campaign Orchestration is built around four key pillars. "
    "Support multi-level sending, where one message is sent per Profile and per secondary entity such as contact addresses.",
    heading_path=("Get started with orchestrated campaigns", "Core capabilities"),
    title="Get started with orchestrated campaigns",
)
FAQ_STOP = chunk(
    "What's the difference between Close to new entrances and Stop?\n"
    "- Example: Seasonal campaign that has ended but you want existing customers to finish the journey",
    kind="faq",
    heading_path=("Frequently Asked Questions", "Testing and publishing"),
    title="Journeys Frequently Asked Questions",
)
JOURNEY_STORIES = chunk(
    "Learn from practical examples that show how to apply journey concepts. Welcome new subscribers with a series.",
    heading_path=("Get started with journeys", "Real-world use cases"),
    title="Get started with journeys",
)


def test_the_passage_sharing_the_need_answers_not_the_first_recommending_one():
    # Both passages recommend; the decision step shares only "need" with the question,
    # the use case shares what the need is about (offers, target audiences).
    step_focus = "- Need multi-entity data (products, stores, bookings)"
    case_focus = "- Promotional announcements: Time-sensitive offers to target audiences"
    result = compose(
        "we need to send a short-lived offer to a target audience, which approach?",
        hit(CART_ROW, 0.9), hit(STEP_ONE, 0.6, focus=step_focus), hit(CAMPAIGN_USE_CASES, 0.55, focus=case_focus),
    )
    assert result.citations[0].hit.chunk == CAMPAIGN_USE_CASES
    assert approach_named_first(result.text) == "action"


def test_a_passage_under_an_approach_heading_can_answer_too():
    # "Get started with orchestrated campaigns" names its approach, though it recommends nothing.
    # "customer" alone does not bring in the words of "welcome new customers" (which would
    # favour "Welcome new subscribers").
    result = compose(
        "which approach can send to every contact address we hold for a customer?",
        hit(CART_ROW, 0.9), hit(ORCHESTRATED_CAPABILITIES, 0.85), hit(JOURNEY_STORIES, 0.8),
    )
    assert result.citations[0].hit.chunk == ORCHESTRATED_CAPABILITIES
    assert approach_named_first(result.text) == "orchestrated"


def test_the_docs_word_for_the_need_counts_when_choosing_the_passage():
    # "delivery status" is the user's phrase; the use case says "shipping", "logistics".
    step_focus = "- Need multi-entity data (products, stores, bookings)"
    result = compose(
        "a carrier sends us delivery status updates to pass on to customers, recommended approach?",
        hit(CART_ROW, 0.9), hit(STEP_ONE, 0.6, focus=step_focus),
        hit(CAMPAIGN_USE_CASES, 0.55, focus="- Shipping notifications: Triggered by logistics system"),
    )
    assert result.citations[0].hit.chunk == CAMPAIGN_USE_CASES
    assert approach_named_first(result.text) == "api"


JOURNEY_USE_CASES = chunk(
    "- Cart abandonment recovery: Triggered by cart add event, wait for checkout, send reminders if no purchase\n"
    "- Birthday campaigns: Entry based on birthdate, personalized offers",
    kind="list",
    heading_path=("Guide", "Use case examples", "Journey use cases"),
)
SEASONAL_USE_CASES = chunk(
    "Action Campaigns:\n- Monthly newsletters: Scheduled batch delivery to subscriber segment\n"
    "- Seasonal greetings: Holiday messages on specific dates",
    kind="section",
    heading_path=("Guide", "Use case examples", "Campaign use cases (Action & API-triggered)"),
)
ORCHESTRATED_USE_CASES = chunk(
    "- Seasonal promotion with catalog integration: Query product catalog, identify eligible customers\n"
    "- Store-specific campaigns: Target customers near specific store locations with store inventory data",
    kind="list",
    heading_path=("Guide", "Use case examples", "Orchestrated Campaign use cases"),
)
PLAN_A_JOURNEY = chunk(
    "Before opening the designer, clarify your objectives. What's the goal? (e.g., onboard new customers, "
    "recover abandoned carts) Which journey type fits? What channels will you use?",
    heading_path=("Get started with journeys", "Plan your journey"),
    title="Get started with journeys",
)


def test_a_use_case_holding_more_of_the_need_answers_instead_of_one_found_for_a_stray_word():
    # "Birthday campaigns" came first for "date"; the greetings use case holds the need.
    result = compose(
        "end-of-year greetings to everyone on a set date, which approach?",
        hit(JOURNEY_USE_CASES, 0.7, focus="- Birthday campaigns: Entry based on birthdate, personalized offers"),
        hit(FAQ_STOP, 0.68),
        hit(SEASONAL_USE_CASES, 0.66, focus="- Seasonal greetings: Holiday messages on specific dates"),
    )
    assert result.citations[0].hit.chunk == SEASONAL_USE_CASES
    assert approach_named_first(result.text) == "action"


def test_a_use_case_fourth_in_line_can_answer_a_how_to_passage_that_recommends_nothing():
    # The quote is the matched item, found through the docs' words "store", "inventory".
    focus = "- Store-specific campaigns: Target customers near specific store locations with store inventory data"
    result = compose(
        "we open a new shop and want to invite people nearby, mentioning what is in stock. which approach?",
        hit(PLAN_A_JOURNEY, 0.55), hit(FAQ_STOP, 0.45), hit(JOURNEY_USE_CASES, 0.42),
        hit(ORCHESTRATED_USE_CASES, 0.41, focus=focus),
    )
    assert result.citations[0].hit.chunk == ORCHESTRATED_USE_CASES
    assert result.text.startswith("Recommended: Orchestrated Campaign — Store-specific campaigns: Target customers near")


def test_the_top_passage_stays_when_it_holds_as_much_of_the_need():
    result = compose(
        "which approach for birthday offers?",
        hit(JOURNEY_USE_CASES, 0.7, focus="- Birthday campaigns: Entry based on birthdate, personalized offers"),
        hit(SEASONAL_USE_CASES, 0.66, focus="- Seasonal greetings: Holiday messages on specific dates"),
    )
    assert result.citations[0].hit.chunk == JOURNEY_USE_CASES
    assert approach_named_first(result.text) == "journey"


def test_french_greetings_find_their_use_case_too():
    journey_cases = chunk(
        "- Récupération après abandon de panier : déclenché par l’événement d’ajout au panier\n"
        "- Campagnes d’anniversaire : saisie basée sur la date de naissance, offres personnalisées",
        kind="list", lang="fr", heading_path=("Guide", "Exemples de cas d’utilisation", "Cas d’utilisation de parcours"),
    )
    cases = chunk(
        "Campagnes d’action :\n- Newsletters mensuelles : diffusion par lots planifiée vers le segment des abonnés\n"
        "- Salutations saisonnières : messages de vacances à des dates spécifiques",
        kind="section", lang="fr",
        heading_path=("Guide", "Exemples de cas d’utilisation", "Cas d’utilisation de Campaign (déclenchés par action et API)"),
    )
    result = compose(
        "des messages de Noël pour tous les abonnés à une date fixe, quelle approche ?",
        hit(journey_cases, 0.67, focus="- Campagnes d’anniversaire : saisie basée sur la date de naissance, offres personnalisées"),
        hit(cases, 0.64, focus="- Salutations saisonnières : messages de vacances à des dates spécifiques"),
        lang="fr",
    )
    assert result.citations[0].hit.chunk == cases
    assert approach_named_first(result.text) == "action"


def test_how_to_questions_keep_the_how_to_passage():
    # The asker has chosen (a welcome series) and wants the steps; the use case would only
    # name the approach again.
    welcome_faq = chunk(
        "How do I create a welcome series journey?\nKeep it to 3-5 emails over 2-3 weeks. Exit customers early on conversion.",
        kind="faq",
        heading_path=("Frequently Asked Questions", "Advanced concepts", "How do I create a welcome series journey?"),
        title="Journeys Frequently Asked Questions",
    )
    onboarding = "- Customer onboarding: Multi-step welcome series with personalized content based on profile data"
    cases = chunk(
        "- Cart abandonment recovery: Triggered by cart add event\n" + onboarding,
        kind="list",
        heading_path=("Guide", "Use case examples", "Journey use cases"),
    )
    result = compose(
        "how would I set up a welcome series for new sign-ups, 4 emails over two weeks?",
        hit(welcome_faq, 0.7), hit(cases, 0.6, focus=onboarding),
    )
    assert result.citations[0].hit.chunk == welcome_faq
    assert "Keep it to 3-5 emails over 2-3 weeks" in result.text


def test_how_questions_are_told_from_choices():
    assert A.asks_how("How would I put together a welcome series?")
    assert A.asks_how("Comment relancer les clients inactifs ?")
    assert not A.asks_how("which approach for a welcome series?")
    assert not A.asks_how("Quelle approche pour une newsletter ?")


FAQ_WELCOME = chunk(
    "How do I create a welcome series journey?\n"
    "A typical welcome series includes multiple touchpoints when customers sign up: "
    "send a welcome email when the customer has confirmed.",
    kind="faq",
    heading_path=("Journeys Frequently Asked Questions", "Advanced concepts"),
    title="Journeys Frequently Asked Questions",
)


def test_telling_words_outweigh_common_ones_when_choosing_the_passage():
    # The welcome-series FAQ shares "customers" and "when" with the question, the use case
    # (5th) only "shipping" and "logistics", the docs' words for "parcel". Counted equally,
    # the earlier FAQ wins; weighted by how few passages use them, the use case does.
    question = "our warehouse platform needs to tell customers when their parcel has left. what do you recommend?"
    hits = [hit(CART_ROW, 0.9), hit(FAQ_WELCOME, 0.6), hit(JOURNEY_STORIES, 0.5), hit(FAQ_STOP, 0.45),
            hit(CAMPAIGN_USE_CASES, 0.4, focus="- Shipping notifications: Triggered by logistics system")]
    rare = {"ship", "logist"}
    weighted = A.compose(question, "en", hits, analyze=analyze, term_weight=lambda t: 4.0 if t in rare else 1.0)
    assert weighted.citations[0].hit.chunk == CAMPAIGN_USE_CASES
    assert approach_named_first(weighted.text) == "api"
    unweighted = A.compose(question, "en", hits, analyze=analyze)
    assert unweighted.citations[0].hit.chunk == FAQ_WELCOME


ORCHESTRATED_BOOKING_USE_CASES = chunk(
    "- Multi-booking communications: Send one message per booking (hotel reservations, flight bookings)\n"
    "- Store-specific campaigns: Target customers near specific store locations",
    kind="list",
    heading_path=("Guide", "Use case examples", "Orchestrated Campaign use cases"),
)
ACTION_CAMPAIGNS = chunk(
    "When to use: Simple, scheduled batch communications\n"
    "Action campaigns (also known as Scheduled campaigns) are ideal for straightforward, one-off or "
    "recurring batch communications that run at a specific time.",
    kind="section",
    heading_path=("Get started with campaigns", "Choose your campaign type", "Action campaigns (Scheduled)"),
    title="Get started with campaigns",
)


def _rare_words_count_three(term):
    return 3.0 if term in {"simpl", "specif", "book"} else 1.0


def test_a_passage_saying_clearly_more_of_the_need_answers_instead_of_the_top_use_case():
    question = "simple one-time message to an audience at a specific time, nothing fancy - which approach?"
    focus = "- Multi-booking communications: Send one message per booking (hotel reservations, flight bookings)"
    hits = [hit(ORCHESTRATED_BOOKING_USE_CASES, 0.56, focus=focus), hit(ACTION_CAMPAIGNS, 0.5)]
    result = A.compose(question, "en", hits, analyze=analyze, term_weight=_rare_words_count_three)
    assert result.citations[0].hit.chunk == ACTION_CAMPAIGNS
    assert approach_named_first(result.text) == "action"


def test_a_passage_saying_only_a_little_more_does_not_displace_the_top_use_case():
    # One shared word more ("specific") is not clearly more: the use case keeps its place.
    question = "send one message per booking at a specific time - which approach?"
    focus = "- Multi-booking communications: Send one message per booking (hotel reservations, flight bookings)"
    hits = [hit(ORCHESTRATED_BOOKING_USE_CASES, 0.56, focus=focus), hit(ACTION_CAMPAIGNS, 0.5)]
    result = A.compose(question, "en", hits, analyze=analyze, term_weight=_rare_words_count_three)
    assert result.citations[0].hit.chunk == ORCHESTRATED_BOOKING_USE_CASES
    assert approach_named_first(result.text) == "orchestrated"
