"""Lexical query expansion with marketing vocabulary."""

from kb_service.lexical import analyze
from kb_service.synonyms import CALENDAR_WORDS, known_through_groups, related_words


def test_everyday_words_bring_the_docs_words():
    assert "cart" in related_words("we want to nudge people who left stuff in their basket", "en").split()
    assert "expédition" in related_words("prévenir quand le colis part", "fr").split()


def test_the_question_own_words_are_not_repeated_and_unrelated_questions_get_nothing():
    words = related_words("cart abandonment", "en").split()
    assert "cart" not in words and "basket" in words
    assert related_words("What is send-time optimization?", "en") == ""
    assert related_words("anything", "de") == ""


def test_words_the_docs_lack_count_as_known_through_a_group_the_docs_use():
    vocabulary = set(analyze("re-engage inactive users", "en"))
    known = known_through_groups("en", vocabulary)
    assert set(analyze("winback lapsed", "en")) <= known
    assert not set(analyze("kubernetes", "en")) & known
    assert not known & vocabulary  # only what the docs lack is added
    # No group touches an empty vocabulary: only the calendar words are known then.
    assert known_through_groups("en", set()) == {t for w in CALENDAR_WORDS["en"].split() for t in analyze(w, "en")}


def test_calendar_words_count_as_known():
    known = known_through_groups("en", set(analyze("send a message", "en")))
    assert set(analyze("Tuesday December tonight", "en")) <= known
    assert set(analyze("mardi décembre", "fr")) <= known_through_groups("fr", set())


def test_whole_entries_need_every_word_of_a_multi_word_entry():
    # "customers" alone is one word of "new customers": it touches the welcome group only
    # in the wide (default) mode.
    assert "onboarding" in related_words("message every customer", "en").split()
    assert "onboarding" not in related_words("message every customer", "en", whole_entries=True).split()
    assert "onboarding" in related_words("greet new customers", "en", whole_entries=True).split()
    assert "anniversaire" not in related_words("envoi à une date fixe", "fr", whole_entries=True).split()
    assert "anniversaire" in related_words("offre pour la date de naissance", "fr", whole_entries=True).split()
