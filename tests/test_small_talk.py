"""Which chat turns are small talk (no question for the docs), in English and French."""

import pytest

from kb_service.small_talk import is_small_talk


@pytest.mark.parametrize("turn", ["thanks!", "Thank you!!", "ok", "OK cool", "hey",
                                  "Bonjour", "merci beaucoup", "d'accord, merci", "C’est noté", "au revoir", "👍 thanks"])
def test_small_talk(turn):
    assert is_small_talk(turn)


@pytest.mark.parametrize("turn", ["", "?!", "thanks, and for newsletters?", "hello, which approach for cart abandonment?",
                                  "merci, et pour une newsletter ?", "journeys", "ok so what is a journey",
                                  "thanks " * 9])
def test_not_small_talk(turn):
    assert not is_small_talk(turn)
