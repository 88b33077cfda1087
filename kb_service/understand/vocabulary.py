"""Vocabulary for lexical query expansion: everyday words for the docs' words.

Users say "basket" where the docs say "cart", "parcel" where they say "shipping",
"win back lapsed customers" where they say "re-engage inactive users". BM25 only matches
words, and the small English embedding model bridges few of these (fewer still in French),
so the lexical side of a query is expanded with the other words of each group it touches.
The groups are data of a profile (kb_service/profiles/*/profile.toml); this module only
knows how to use them. Matching is on stems, so plural and verb forms count.
"""

from __future__ import annotations

from functools import lru_cache

from kb_service.store.lexical import analyze

Groups = dict[str, tuple[tuple[str, ...], ...]]


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


class Vocabulary:
    """One profile's word groups per language, analysed once."""

    def __init__(self, groups: Groups | None = None) -> None:
        self.groups: Groups = dict(groups or {})
        self._stem_groups = {lang: self._analyse(lang) for lang in self.groups}
        self._entries = {
            lang: tuple(tuple((word, tuple(analyze(word, lang))) for word in group) for group in groups_)
            for lang, groups_ in self.groups.items()
        }
        self._related_cache: dict[tuple[str, str, bool], str] = {}
        self._familiarity_cache: dict[tuple[str, str, frozenset[str]], tuple[str, str]] = {}

    def _analyse(self, lang: str) -> tuple[tuple[frozenset[str], str], ...]:
        """Each group as (stems of all its words, the words as text to append)."""
        return tuple(
            (frozenset(term for word in group for term in analyze(word, lang)), " ".join(group))
            for group in self.groups.get(lang, ())
        )

    def known_through_groups(self, lang: str, vocabulary) -> frozenset[str]:
        """Stems that the docs never use but that belong to a group one of whose words they use.

        "winback" is not in the docs, "re-engage" is: a question about winbacks is not about
        something the docs ignore, and vocabulary coverage should say so. Calendar words and
        everyday names (ERP, Black Friday) count too.
        """
        words = calendar_words(lang) | everyday_names(lang)
        extra: set[str] = {stem for word in words for stem in analyze(word, lang) if stem not in vocabulary}
        for stems, _ in self._stem_groups.get(lang, ()):
            if any(stem in vocabulary for stem in stems):
                extra |= {stem for stem in stems if stem not in vocabulary}
        return frozenset(extra)

    def related_words(self, question: str, lang: str, *, whole_entries: bool = False) -> str:
        """The words of every group the question touches, minus its own ("" if none).

        By default one stem touches a group: "customers" touches the group of "new customers",
        a wide net that lexical search can afford. ``whole_entries`` asks for every stem of
        one entry, for uses that need precision: "date" alone is not "date of birth".
        """
        if lang not in self.groups:
            return ""
        key = (question, lang, whole_entries)
        cached = self._related_cache.get(key)
        if cached is not None:
            return cached
        terms = set(analyze(question, lang))
        extra = []
        for (stems, words), entries in zip(self._stem_groups.get(lang, ()), self._entries.get(lang, ())):
            entry_stems = [frozenset(s) for _, s in entries if s]
            touched = any(entry <= terms for entry in entry_stems) if whole_entries else bool(terms & stems)
            if touched:
                extra.extend(_words_beyond(words, terms, lang))
        text = " ".join(extra)
        if len(self._related_cache) < 8192:
            self._related_cache[key] = text
        return text

    def rare_group_stems(self, lang: str, document_frequency, at_most: int) -> frozenset[str]:
        """The stems of ``lang``'s groups that at most ``at_most`` chunks contain."""
        return frozenset(
            stem for stems, _ in self._stem_groups.get(lang, ()) for stem in stems
            if document_frequency.get(stem, 0) <= at_most
        )

    def related_words_by_familiarity(self, question: str, lang: str, rare: frozenset[str]) -> tuple[str, str]:
        """``related_words(question, lang)`` split in two: the words of the groups the question
        touches through a word the docs use, and the docs' words of the groups it touches only
        through ``rare`` stems (words that hardly any chunk uses).

        "parcel" and "réactiver" are how users say it, not how the docs do ("shipping",
        "réengager"): a group reached only through such a word names the question's subject in
        the docs' own words, which deserve more than the light weight of a related word. Only
        one-word entries the docs use go in the second part: a rare one would lift that single
        chunk by its high IDF whatever it is about.
        """
        if lang not in self.groups:
            return "", ""
        key = (question, lang, rare)
        cached = self._familiarity_cache.get(key)
        if cached is not None:
            return cached
        terms = set(analyze(question, lang))
        familiar: list[str] = []
        unfamiliar: list[str] = []
        for (stems, words), entries in zip(self._stem_groups.get(lang, ()), self._entries.get(lang, ())):
            touched = terms & stems
            if not touched:
                continue
            single = [(word, s[0]) for word, s in entries if len(s) == 1]
            stand_ins = [word for word, stem in single if stem not in terms and stem not in rare] if touched <= rare else []
            if stand_ins:
                unfamiliar.extend(stand_ins)
            else:
                familiar.extend(_words_beyond(words, terms, lang))
        result = (" ".join(familiar), " ".join(unfamiliar))
        if len(self._familiarity_cache) < 8192:
            self._familiarity_cache[key] = result
        return result


def _words_beyond(words: str, terms: set[str], lang: str) -> list[str]:
    """The words of a group (space-separated) that the question's ``terms`` do not already hold."""
    return [word for word in words.split() if not set(analyze(word, lang)) <= terms]
