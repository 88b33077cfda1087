"""Marketing vocabulary for lexical query expansion.

Users say "basket" where the docs say "cart", "parcel" where they say "shipping",
"win back lapsed customers" where they say "re-engage inactive users". BM25 only matches
words, and the small English embedding model bridges few of these (fewer still in French),
so the lexical side of a query is expanded with the other words of each group it touches.
Groups are general marketing-automation vocabulary, not answers: each maps everyday words
onto the terms documentation uses. Matching is on stems, so plural and verb forms count.
"""

from __future__ import annotations

from functools import lru_cache

from kb_service.store.lexical import analyze

GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("cart", "basket", "checkout"),
        ("shipping", "shipment", "parcel", "package", "dispatch", "delivery status", "logistics"),
        ("inactive", "inactivity", "lapsed", "dormant", "winback", "win back", "re-engage", "reengage", "re-engagement"),
        ("password", "forgot", "reset"),
        ("newsletter", "digest", "bulletin"),
        ("promotion", "promo", "offer", "sale", "discount", "deal", "coupon"),
        ("notification", "alert", "notify", "warn"),
        ("booking", "reservation"),
        ("store", "shop", "boutique", "outlet"),
        ("stock", "inventory"),
        ("loyalty", "rewards", "tier", "vip"),
        ("welcome", "onboarding", "sign-up", "signup", "new customers"),
        ("transactional", "order confirmation", "receipt"),
        ("fraud", "suspicious", "account alerts"),
        ("broadcast", "blast", "mass mailing", "all customers", "everyone", "everybody"),
        ("communications", "comms"),
        ("seasonal", "holiday", "christmas", "greetings", "season's"),
        ("catalog", "catalogue"),
        ("outage", "disruption", "downtime"),
        ("a/b test", "split test", "experiment", "variant"),
        ("birthday", "birthdate", "date of birth"),
        ("external system", "backend", "webhook", "third-party system"),
        ("count", "how many recipients", "exact counts", "audience size"),
        # Chat shorthand for words the docs spell out.
        ("available", "avail"),
        ("information", "info", "infos"),
        ("message", "msg", "msgs"),
        ("direct mail", "postal mail", "paper mail", "snail mail"),
    ),
    "fr": (
        ("panier", "caddie"),
        ("expédition", "colis", "livraison", "expédié", "logistique"),
        ("inactif", "inactifs", "inactivité", "réactiver", "réengager", "réengagement", "relancer"),
        ("mot de passe", "réinitialisation", "oublié"),
        ("newsletter", "lettre d'information", "infolettre"),
        ("promotion", "promo", "offre", "soldes", "réduction", "remise", "coupon"),
        ("notification", "alerte", "prévenir", "avertir"),
        ("réservation", "booking"),
        ("magasin", "boutique"),
        ("stock", "inventaire"),
        ("fidélité", "niveau", "vip"),
        ("bienvenue", "accueil", "intégration", "onboarding", "inscription"),
        ("transactionnel", "confirmation de commande", "reçu"),
        ("fraude", "suspect", "antifraude", "alertes de comptes"),
        # The French docs translate "holiday messages" as "messages de vacances".
        ("vœux", "fêtes", "noël", "saisonnier", "salutations", "vacances", "fin d'année"),
        ("catalogue", "catalog"),
        ("panne", "interruption", "perturbation"),
        ("tests a/b", "test a/b", "expérience", "variante"),
        ("anniversaire", "date de naissance"),
        ("système externe", "backend", "webhook", "si"),
        ("nombre exact", "combien de destinataires", "décompte"),
        # Abréviations de messagerie pour des mots que la doc écrit en entier.
        ("disponible", "dispo", "dispos"),
        ("information", "info", "infos"),
        ("message", "msg"),
        ("courrier", "courrier papier", "courrier postal", "publipostage"),
    ),
}


@lru_cache(maxsize=None)
def _stem_groups(lang: str) -> tuple[tuple[frozenset[str], str], ...]:
    """Each group as (stems of all its words, the words as text to append)."""
    out = []
    for group in GROUPS.get(lang, ()):
        stems = frozenset(term for word in group for term in analyze(word, lang))
        out.append((stems, " ".join(group)))
    return tuple(out)


# Dates and times say when to send, not what about: "next Tuesday 9am" is no sign of a
# question about something the docs ignore, though the docs never name a weekday.
CALENDAR_WORDS = {
    "en": """monday tuesday wednesday thursday friday saturday sunday january february march april may
             june july august september october november december today tomorrow tonight weekend
             morning evening am pm noon midnight""",
    "fr": """lundi mardi mercredi jeudi vendredi samedi dimanche janvier février mars avril mai juin
             juillet août septembre octobre novembre décembre aujourd'hui demain soir matin week-end
             midi minuit""",
}


# Kinds of systems a business runs and days of the retail calendar: "our ERP", "notre CRM",
# "before Black Friday" describe the asker's situation, not a product the docs ignore
# ("Marketo", "HubSpot" still are).
EVERYDAY_NAMES = {
    "en": "erp crm cms pos esp dmp cdp oms wms pim bi etl sdk black cyber boxing",
    "fr": "erp crm cms pos esp dmp cdp oms wms pim bi etl sdk black cyber soldes",
}


@lru_cache(maxsize=None)
def calendar_words(lang: str) -> frozenset[str]:
    """The lower-case calendar words of ``lang`` (weekdays, months, times of day)."""
    return frozenset(CALENDAR_WORDS.get(lang, "").split())


@lru_cache(maxsize=None)
def everyday_names(lang: str) -> frozenset[str]:
    """Capitalised words of ``lang`` that name no product (ERP, CRM, Black Friday)."""
    return frozenset(EVERYDAY_NAMES.get(lang, "").split())


def known_through_groups(lang: str, vocabulary) -> frozenset[str]:
    """Stems that the docs never use but that belong to a group one of whose words they use.

    "winback" is not in the docs, "re-engage" is: a question about winbacks is not about
    something the docs ignore, and vocabulary coverage should say so. Calendar words and
    everyday names (ERP, Black Friday) count too.
    """
    words = calendar_words(lang) | everyday_names(lang)
    extra: set[str] = {stem for word in words for stem in analyze(word, lang) if stem not in vocabulary}
    for stems, _ in _stem_groups(lang):
        if any(stem in vocabulary for stem in stems):
            extra |= {stem for stem in stems if stem not in vocabulary}
    return frozenset(extra)


@lru_cache(maxsize=None)
def _analysed_entries(lang: str) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]:
    """Each group as its entries with their stems ("new customers" -> (new, custom))."""
    return tuple(tuple((word, tuple(analyze(word, lang))) for word in group) for group in GROUPS.get(lang, ()))


@lru_cache(maxsize=None)
def _entry_stems(lang: str) -> tuple[tuple[frozenset[str], ...], ...]:
    """Each group as the stem sets of its entries."""
    return tuple(
        tuple(frozenset(stems) for _, stems in entries if stems) for entries in _analysed_entries(lang)
    )


def _words_beyond(words: str, terms: set[str], lang: str) -> list[str]:
    """The words of a group (space-separated) that the question's ``terms`` do not already hold."""
    return [word for word in words.split() if not set(analyze(word, lang)) <= terms]


@lru_cache(maxsize=8192)
def related_words(question: str, lang: str, *, whole_entries: bool = False) -> str:
    """The words of every vocabulary group the question touches, minus its own ("" if none).

    By default one stem touches a group: "customers" touches the group of "new customers",
    a wide net that lexical search can afford (measured: requiring whole entries lost
    recall, README "Retrieval choices"). ``whole_entries`` asks for every stem of one
    entry, for uses that need precision: "date" alone is not "date of birth".
    """
    if lang not in GROUPS:
        return ""
    terms = set(analyze(question, lang))
    extra = [
        word
        for (stems, words), entries in zip(_stem_groups(lang), _entry_stems(lang))
        if (any(entry <= terms for entry in entries) if whole_entries else terms & stems)
        for word in _words_beyond(words, terms, lang)
    ]
    return " ".join(extra)


def rare_group_stems(lang: str, document_frequency, at_most: int) -> frozenset[str]:
    """The stems of ``lang``'s vocabulary groups that at most ``at_most`` chunks contain
    (``document_frequency``: stem -> number of chunks holding it)."""
    return frozenset(
        stem for stems, _ in _stem_groups(lang) for stem in stems if document_frequency.get(stem, 0) <= at_most
    )


@lru_cache(maxsize=None)
def _single_stem_entries(lang: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each group's entries that are one word once analysed, as (entry, its stem).

    Multi-word entries ("all customers", "new customers", "delivery status") hold common
    words that say nothing of the group alone; they stay out of a search at full weight.
    """
    return tuple(
        tuple((word, stems[0]) for word, stems in entries if len(stems) == 1) for entries in _analysed_entries(lang)
    )


@lru_cache(maxsize=8192)
def related_words_by_familiarity(question: str, lang: str, rare: frozenset[str]) -> tuple[str, str]:
    """``related_words(question, lang)`` split in two: the words of the groups the question
    touches through a word the docs use, and the docs' words of the groups it touches only
    through ``rare`` stems (words that hardly any chunk uses).

    "parcel" and "réactiver" are how users say it, not how the docs do ("shipping",
    "réengager"): a group reached only through such a word names the question's subject in
    the docs' own words, which deserve more than the light weight of a related word. Only
    one-word entries the docs use go in the second part: a rare one ("disruption", in one
    chunk) would lift that single chunk by its high IDF whatever it is about.
    The first part equals ``related_words(question, lang)`` when the second is empty.
    """
    if lang not in GROUPS:
        return "", ""
    terms = set(analyze(question, lang))
    familiar: list[str] = []
    unfamiliar: list[str] = []
    for (stems, words), entries in zip(_stem_groups(lang), _single_stem_entries(lang)):
        touched = terms & stems
        if not touched:
            continue
        stand_ins = (
            [word for word, stem in entries if stem not in terms and stem not in rare] if touched <= rare else []
        )
        if stand_ins:
            unfamiliar.extend(stand_ins)
        else:  # as in related_words, including a group with no one-word entry the docs use
            familiar.extend(_words_beyond(words, terms, lang))
    return " ".join(familiar), " ".join(unfamiliar)
