"""A "how many / how long" answer must state a figure (pure, then through kb.chat)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kb_service.assess.answerability import missing_answer_type, states_a_figure
from kb_service.store.lexical import analyze


def _missing(corpus_kb, analysis, text: str) -> str | None:
    """missing_answer_type with ``text`` as the one best passage (a stand-in for a hit)."""
    hits = [SimpleNamespace(chunk=SimpleNamespace(text=text))]
    return missing_answer_type(analysis, hits, analyze, corpus_kb.retriever.knows(analysis.lang))


@pytest.mark.parametrize("text", [
    "Journeys are limited to a maximum of 50 activities. [1]",
    "Adobe Journey Optimizer supports four types of journeys",
    "Batch audiences are refreshed once a day",
    "Attendez deux jours avant la relance",
    "une fois par semaine",
])
def test_figures_in_digits_or_words(text):
    assert states_a_figure(text)


@pytest.mark.parametrize("text", [
    "Learn more about wait activities and journey capping. [1]",  # a citation mark is no figure
    "Les objets créés dans des campagnes orchestrées sont liés au sandbox dans lequel ils sont créés. [1]",
    "Use a Reaction event with a Timeout",
])
def test_no_figure(text):
    assert not states_a_figure(text)


def test_a_how_many_follow_up_the_docs_give_no_figure_for_is_abstained_on(corpus_kb):
    # The sandbox passage answers the first turn; it holds no count of sandboxes.
    first = "Les objets d'une campagne orchestrée sont liés à un sandbox ?"
    messages = [{"role": "user", "content": first}]
    messages.append({"role": "assistant", "content": corpus_kb.chat(messages).answer})
    messages.append({"role": "user", "content": "ok, et on a droit à combien de sandbox avec notre licence ?"})
    answer = corpus_kb.chat(messages)
    assert answer.intent == "quantity" and answer.abstained


def test_a_count_in_words_in_the_best_passages_is_a_figure_for_a_how_many_question(corpus_kb):
    analysis = corpus_kb.understand("how many types of journeys are there?")
    assert analysis.intent == "quantity"

    assert _missing(corpus_kb, analysis, "Journey Optimizer supports four types of journeys.") is None
    assert _missing(corpus_kb, analysis, "Journeys come in several types.") is not None


def test_a_figure_is_quoted_from_the_unit_that_holds_what_was_asked(corpus_kb):
    # The top passage states other figures (wait times); "Time-to-live: … (e.g., 91 days)"
    # sits in a guardrails list a little further down.
    answer = corpus_kb.ask("how long can a journey last at most, is there some time-to-live?")
    assert not answer.abstained and "91" in answer.answer.split("[1]")[0]


def test_a_figure_in_a_sentence_pointing_back_is_about_what_the_sentence_before_names(corpus_kb):
    analysis = corpus_kb.understand("how long after publishing before streaming audience profiles can enter the journey?")
    assert analysis.intent == "quantity"

    before = "Streaming audiences: profiles cannot enter the journey if they were in the audience before it was published. "
    assert _missing(corpus_kb, analysis, before + "They may be delayed (up to 10 minutes).") is None
    assert _missing(corpus_kb, analysis, before + "Wait up to 10 minutes.") is not None


def test_a_cardinality_of_a_data_model_is_not_a_figure(corpus_kb):
    analysis = corpus_kb.understand("how many schemas can an orchestrated campaign data model hold?")
    text = "The orchestrated campaign data model has schemas connected via 1:1 or 1:many relationships."
    assert _missing(corpus_kb, analysis, text) is not None
    assert not states_a_figure("schemas connected via 1:1 or 1:many relationships [1]")
    assert states_a_figure("a maximum of 50 activities [1]")


def test_a_figure_about_another_form_of_the_asked_word_states_the_fact(corpus_kb):
    from kb_service.compose.extract import states_fact
    from kb_service.store.lexical import share_a_stem

    # The French stemmer splits "évaluées" and "évaluation" into two stems.
    assert set(analyze("évaluées", "fr")) != set(analyze("évaluation", "fr"))
    assert share_a_stem(set(analyze("évaluées", "fr")), set(analyze("évaluation", "fr")))
    assert not share_a_stem({"camp"}, {"campagn"})  # too short to tell
    analysis = corpus_kb.understand("Les audiences de streaming sont évaluées en combien de temps ?")
    terms = set(analyze(analysis.query, "fr"))
    assert states_fact(analysis, "La latence de l’évaluation est généralement inférieure à 5 minutes.", terms, "fr", analyze)


def test_an_amount_about_something_else_prices_nothing(corpus_kb):
    analysis = corpus_kb.understand("How much does a Journey Optimizer license cost per year?")
    assert analysis.asks_price

    assert _missing(corpus_kb, analysis, "Path 1: High-value customers (total purchases > $1000).")
    assert _missing(corpus_kb, analysis, "A Journey Optimizer license costs $100 a year.") is None


def test_a_figure_of_another_measure_does_not_answer_a_rate_or_a_size(corpus_kb):
    # The pages give counts ("50 activities") and durations, never a reading or sending rate:
    # whatever the ask's form (what-is, yes/no), a rate question is abstained on.
    for question in ("What is the default throughput of a Read Audience activity, in profiles per second?",
                     "Is there a limit on how many messages a campaign can send per second?"):
        answer = corpus_kb.ask(question)
        assert answer.abstained, (question, answer.answer)
    # A duration the pages do give is still answered.
    answer = corpus_kb.ask("How long should I wait between emails in a welcome series?")
    assert not answer.abstained and "1-3 days" in answer.answer


def test_a_rate_question_needs_so_many_per_unit_of_time_in_the_best_passages(corpus_kb):
    analysis = corpus_kb.understand("what's the maximum reading rate of a Read Audience activity?")
    assert analysis.measure == "rate"

    assert _missing(corpus_kb, analysis, "A Read Audience activity reads 500 profiles per second.") is None
    assert _missing(corpus_kb, analysis, "A Read Audience activity can hold 50 activities.") is not None


def test_a_how_many_question_needs_a_number_of_what_it_counts(corpus_kb):
    analysis = corpus_kb.understand("How many test profiles can go through a journey in test mode?")
    assert analysis.counted == ("test", "profiles")
    # "two" counts approaches, not profiles; a range counts what follows it.
    assert _missing(corpus_kb, analysis, "Journey Optimizer offers two testing approaches for a journey.")
    assert _missing(corpus_kb, analysis, "Test mode lets up to 1-100 test profiles go through the journey.") is None
    french = corpus_kb.understand("fragments de parcours : combien de noeuds max ?")
    held = "Les fragments de parcours prennent en charge un maximum de 20 nœuds et 200 fragments actifs par sandbox."
    assert _missing(corpus_kb, french, held) is None  # "nœuds" is "noeuds"
    assert _missing(corpus_kb, french, "Les fragments de parcours sont limités à 200 par sandbox.")


def test_a_how_often_question_needs_a_frequency(corpus_kb):
    analysis = corpus_kb.understand("How often are batch audiences evaluated in a journey?")
    assert analysis.measure == "frequency"
    assert _missing(corpus_kb, analysis, "Batch audiences are evaluated on a schedule (typically daily) for journeys.") is None
    assert _missing(corpus_kb, analysis, "Batch audiences: there are four pillars of audience evaluation in journeys.")
