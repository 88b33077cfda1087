"""Lexical query expansion with marketing vocabulary."""

from kb_service.synonyms import related_words


def test_everyday_words_bring_the_docs_words():
    assert "cart" in related_words("we want to nudge people who left stuff in their basket", "en").split()
    assert "expédition" in related_words("prévenir quand le colis part", "fr").split()


def test_the_question_own_words_are_not_repeated_and_unrelated_questions_get_nothing():
    words = related_words("cart abandonment", "en").split()
    assert "cart" not in words and "basket" in words
    assert related_words("What is send-time optimization?", "en") == ""
    assert related_words("anything", "de") == ""
