"""Lexical query expansion with marketing vocabulary."""

from kb_service.store.lexical import analyze
from kb_service.profiles import load_profile
from kb_service.understand.vocabulary import CALENDAR_WORDS, EVERYDAY_NAMES, Vocabulary

# The vocabulary groups are data of the Journey Optimizer profile; the engine only uses them.
VOCABULARY = Vocabulary(load_profile("journey-optimizer").vocabulary)
related_words = VOCABULARY.related_words
known_through_groups = VOCABULARY.known_through_groups
rare_group_stems = VOCABULARY.rare_group_stems
related_words_by_familiarity = VOCABULARY.related_words_by_familiarity


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
    # No group touches an empty vocabulary: only the calendar words and everyday names are known then.
    words = (CALENDAR_WORDS["en"] + " " + EVERYDAY_NAMES["en"]).split()
    assert known_through_groups("en", set()) == {t for w in words for t in analyze(w, "en")}


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


def test_a_group_reached_only_through_a_word_the_docs_lack_brings_the_docs_words_apart():
    question = "tell customers when their parcel has left"
    rare = frozenset(analyze("parcel shipment dispatch", "en"))
    familiar, unfamiliar = related_words_by_familiarity(question, "en", rare)
    # The shipping group is reached only through "parcel": its one-word entries the docs use.
    assert set(unfamiliar.split()) == {"shipping", "package", "logistics"}
    # "customers" touches other groups through a word the docs use: they stay light.
    assert "onboarding" in familiar.split() and "shipping" not in familiar.split()
    # Nothing rare touched: exactly related_words, nothing apart.
    assert related_words_by_familiarity(question, "en", frozenset()) == (related_words(question, "en"), "")


def test_a_group_without_a_one_word_entry_the_docs_use_stays_a_light_related_group():
    # "outage" and "disruption" are both rare, "downtime" too: no docs' word to search apart.
    rare = frozenset(analyze("outage disruption downtime", "en"))
    question = "notify customers about a service outage"
    assert related_words_by_familiarity(question, "en", rare) == (related_words(question, "en"), "")


def test_rare_group_stems_are_those_few_chunks_hold():
    df = {"parcel": 0, "ship": 3, "logist": 1, "reengag": 9, "reactiv": 1}
    assert {"parcel", "logist", "shipment"} <= rare_group_stems("en", df, 1)
    assert "ship" not in rare_group_stems("en", df, 1)
    assert "reactiv" in rare_group_stems("fr", df, 1) and "reengag" not in rare_group_stems("fr", df, 1)
    assert "logist" not in rare_group_stems("en", df, 0)


def test_without_a_profile_there_is_no_vocabulary():
    empty = Vocabulary()
    assert empty.related_words("my basket", "en") == ""
    assert empty.related_words_by_familiarity("parcel", "en", frozenset({"parcel"})) == ("", "")
