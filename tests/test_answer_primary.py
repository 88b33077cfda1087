"""Which hit an approach answer is composed from, when the top one is a decision row about
another need. Hand-made hits in the shape of the comparison guide's chunks."""

from __future__ import annotations

from kb_service.evaluation import approach_named_first
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
