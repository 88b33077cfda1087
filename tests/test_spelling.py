"""Typos against the docs' own words (pure, a hand-made vocabulary; wordfreq's real lists)."""

from __future__ import annotations

from collections import Counter

from kb_service.understand.spelling import Speller, docs_words

WORDS = {"en": docs_words(["Convert a campaign into a journey.", "Which journey? A journey with a condition and a wait activity.",
                           "Market segments", "The table of ideal deals", "the easiest one"]),
         "fr": docs_words(["Au moins une campagne orchestrée par parcours."])}
SPELLER = Speller(WORDS)


def known(lang):
    return lambda word: word in WORDS[lang]


def test_a_dropped_letter_is_restored_from_the_docs_words():
    assert SPELLER.correct("can i convrt a campain into a jouney?", "en", known("en")) == \
        "can i convert a campaign into a journey?"
    assert SPELLER.correct("wich one", "en", known("en")) == "which one"  # "which" before "with"


def test_names_common_words_and_short_words_are_left_alone():
    # Capitalised: a name. "marketo" → "market" would need a letter removed.
    assert SPELLER.correct("Does Marketo or marketo sync", "en", known("en")) == "Does Marketo or marketo sync"
    # Common words the docs never use are words, not typos ("able" is not "table", "mois" not "moins").
    assert SPELLER.correct("we are able to close the deal", "en", known("en")) == "we are able to close the deal"
    assert SPELLER.correct("chaque mois", "fr", known("fr")) == "chaque mois"
    assert SPELLER.correct("abc", "en", known("en")) == "abc"


def test_a_wrong_letter_is_corrected_only_in_a_long_word():
    assert SPELLER.correct("a condtion or a wait activty", "en", known("en")) == "a condition or a wait activity"
    assert SPELLER.correct_word("easyest", "en", known("en")) == "easiest"
    assert SPELLER.correct_word("tabel", "en", known("en")) == "tabel"  # short: could be another word
    assert Speller({"en": Counter()}).correct_word("jouney", "en", lambda w: False) == "jouney"
