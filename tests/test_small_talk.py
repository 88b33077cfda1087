"""Which chat turns are small talk (no question for the docs), in English and French."""

import pytest

from kb_service.understand.small_talk import is_small_talk, without_greeting


@pytest.mark.parametrize("turn", ["thanks!", "Thank you!!", "ok", "OK cool", "hey",
                                  "Bonjour", "merci beaucoup", "d'accord, merci", "C’est noté", "au revoir", "👍 thanks",
                                  # thanks with a word on the answer itself
                                  "merci beaucoup, c'était très clair !", "thanks, that was really clear",
                                  "that was exactly what I needed, thanks",
                                  # asking after the reader's well-being
                                  "Bonjour, vous allez bien ?", "hi, how are you?", "comment ça va ?",
                                  "Salut, comment vas-tu ?",
                                  # what one thanks for
                                  "hey, thanks a lot, that was really helpful!", "Bonjour ! Merci pour votre aide, c'est très clair.",
                                  "thanks for the help", "hey! thanks, that answered everything :)",
                                  "Bonjour ! Merci beaucoup pour votre aide d'hier, c'était super clair."])
def test_small_talk(turn):
    assert is_small_talk(turn)


@pytest.mark.parametrize("turn", ["", "?!", "thanks, and for newsletters?", "hello, which approach for cart abandonment?",
                                  "merci, et pour une newsletter ?", "journeys", "ok so what is a journey",
                                  "thanks " * 13, "is the activation endpoint clear?",
                                  # well-being words alone open real questions
                                  "how?", "Comment ça marche ?", "how are journeys built?", "et ça va marcher ?",
                                  # "help" without a thanks asks for something
                                  "help", "the answer", "thanks for the newsletter tips"])
def test_not_small_talk(turn):
    assert not is_small_talk(turn)


@pytest.mark.parametrize("text,question", [
    ("Salut ! quelles approches gèrent les déclencheurs en temps réel ?", "quelles approches gèrent les déclencheurs en temps réel ?"),
    ("Hello! which approach for cart abandonment?", "which approach for cart abandonment?"),
    ("Hi, thanks! journey or campaign?", "journey or campaign?"),
    ("Hey team, which approach for newsletters?", "which approach for newsletters?"),
    ("Quick question: what is a journey?", "what is a journey?"),
    ("Bonjour l'équipe, quelle approche pour une newsletter ?", "quelle approche pour une newsletter ?"),
    ("Aidez-moi : quelle approche ?", "quelle approche ?"),
    ("Hi - which approach for birthdays?", "which approach for birthdays?"),
])
def test_a_leading_greeting_or_preamble_is_dropped(text, question):
    assert without_greeting(text) == question


@pytest.mark.parametrize("text", [
    "thanks!", "Hello!", "which approach? thanks", "Re-engagement campaigns: which approach?",
    "hello world campaign?", "Please send: the newsletter", "Journeys, campaigns: which one?", "",
])
def test_text_without_a_greeting_in_front_is_unchanged(text):
    assert without_greeting(text) == text
