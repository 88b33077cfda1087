"""Follow-up questions become standalone questions."""

import pytest

from kb_service.understand.conversation import is_follow_up, standalone, swapped_subject


@pytest.mark.parametrize(
    "history, turn, expected",
    [
        (["which approach for cart abandonment?"], "and for a monthly newsletter?", "which approach for a monthly newsletter?"),
        (["Quelle approche pour l'abandon de panier ?"], "et pour une newsletter mensuelle ?", "Quelle approche pour une newsletter mensuelle ?"),
        (["which approach for cart abandonment?"], "what about password resets?", "which approach for password resets?"),
        (["which approach for cart abandonment?", "and for a monthly newsletter?"], "and for order confirmations?", "which approach for order confirmations?"),
    ],
)
def test_elliptic_follow_ups_take_the_previous_question_frame(history, turn, expected):
    assert standalone(turn, history) == expected


def test_a_standalone_question_is_left_alone():
    turn = "How do I test my journey before publishing it?"
    assert not is_follow_up(turn)
    assert standalone(turn, ["which approach for cart abandonment?"]) is None


def test_without_history_the_turn_is_the_question():
    assert standalone("and for newsletters?", []) is None


@pytest.mark.parametrize("turn", ["can we have it go out at 8am next Friday?", "et ça coûte combien ?", "what about SMS?",
                                  "mine is getting close to that, what should I do?",
                                  "tu peux me donner un exemple concret ?",
                                  "does the second one actually send any messages?",
                                  "combien de rappels max ?",
                                  "what's the max duration there? we'd like to keep people in for a whole year",
                                  "The outreach should ramp up step by step. What would you set up for that?"])
def test_turns_that_point_back_are_follow_ups(turn):
    assert is_follow_up(turn)


@pytest.mark.parametrize("turn, subject", [
    ("and for a monthly newsletter?", "a monthly newsletter"),
    ("ok, what about a holiday greeting?", "a holiday greeting"),
    ("et pour les alertes de fraude ?", "les alertes de fraude"),
    ("and the holiday greeting we send everyone on Dec 24?", "the holiday greeting we send everyone on Dec 24"),
    ("and if a few days later I want to remind them?", None),
    ("which channels can I use?", None),
])
def test_the_subject_a_turn_swaps_in(turn, subject):
    assert swapped_subject(turn) == subject


@pytest.mark.parametrize("turn", [
    "could we also send it to every known address of the guest?",
    "can you give me the concrete example from the docs?",
])
def test_a_pronoun_near_the_start_or_the_example_points_back(turn):
    assert is_follow_up(turn)


def test_a_pronoun_far_into_the_turn_points_inside_it():
    assert not is_follow_up("How do I test my new welcome journey before publishing it?")


def test_an_earlier_answer_quotes_the_passage_it_was_composed_from():
    from kb_service.assess.answerability import quoted_in

    passage = "Campaign Orchestration uses a relational database. This type of data model has separate schemas."
    answer = "Recommended: Orchestrated Campaign — Campaign Orchestration uses a relational database. This type [1]"
    assert quoted_in(answer, passage)
    assert not quoted_in("Journeys are limited to a maximum of 50 activities. [1]", passage)
    assert not quoted_in("Yes [1]", passage)  # too short to tell
