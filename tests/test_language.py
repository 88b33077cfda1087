"""Question language detection (lingua, restricted to English and French)."""

import pytest

from kb_service.understand.language import detect_language


@pytest.mark.parametrize(
    "question, lang",
    [
        ("which approach for cart abandonment?", "en"),
        ("Quelle approche pour l'abandon de panier ?", "fr"),
        ("Qu'est-ce qu'un parcours unitaire ?", "fr"),
        ("Can I use the same audience across journeys and campaigns?", "en"),
        ("et pour une newsletter mensuelle ?", "fr"),
        ("campagnes orchestrées", "fr"),
        ("Comment préparer une pâte à crêpes ?", "fr"),
    ],
)
def test_detects_english_and_french(question, lang):
    assert detect_language(question) == lang


def test_text_without_letters_falls_back_to_the_default():
    assert detect_language("??? 123 !!!", default="fr") == "fr"
    assert detect_language("", default="en") == "en"


def test_other_languages_map_to_one_of_the_two_without_error():
    assert detect_language("Wie viel kostet das Produkt im Monat?") in ("en", "fr")
    assert detect_language("これは何ですか") in ("en", "fr")
