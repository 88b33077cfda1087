"""Understand: one QueryAnalysis per question, built once, read by every later stage.

Language, intent, the options the question names, its subject words, and (in a
conversation) the topic it carries over from earlier turns. Pure apart from the
language detector and the corpus statistics it is handed.
"""

from __future__ import annotations

import re

from typing import Callable, Sequence

from kb_service.store.lexical import analyze
from kb_service.text.options import OptionCatalog, fold
from kb_service.types import LANGUAGES, QueryAnalysis
from kb_service.understand.conversation import continues_ask, is_follow_up, points_back, standalone, swapped_subject
from kb_service.understand.intent import (
    asks_difference, asks_measure, asks_price, asks_yes_no, classify, counted_words, need_text,
)
from kb_service.understand.language import language_scores
from kb_service.understand.spelling import Speller, is_common_word, word_frequency
from kb_service.understand.small_talk import is_small_talk, small_talk_language, without_greeting

# A question word of its own: the turn asks something new, whatever the turn before asked.
_ASKS_ITS_OWN = re.compile(
    r"\b(what|which|how|when|where|who|why|can|could|does|do|is|are|quoi|quel|quelle|quels|quelles|comment|"
    r"combien|quand|o[uù]|pourquoi|peut|peux|est-ce)\b",
    re.I,
)
# "and if …", "what if …", "et si …": a condition added to what was asked.
_CONDITION = re.compile(r"^\W*(?:(?:and|but|so|et|mais)\s+)?(?:what\s+)?(?:if|si)\b", re.I)
# Below this lingua confidence a question is too short to tell English from French by its
# letters alone ("cart abandonment" scores French); the corpus vocabulary decides then.
AMBIGUOUS_LANGUAGE = 0.9
_WORDS = re.compile(r"[^\W\d_]+")
# Words belonging to one language ("those", "quelle") this many outweigh letter statistics.
OWN_WORDS = 2
# A word belongs to the language where it is this much more common (Zipf 1.5: ~30 times).
LEANING_ZIPF = 1.5
# A follow-up choice whose own need has this many words describes a need of its own.
NEW_NEED_WORDS = 4
# The earlier user turns a conversation's turn is retrieved beside: a business, then its need.
CONTEXT_TURNS = 2
# "same question for an action campaign": a subject this short that names an option swaps it in.
MAX_OPTION_SUBJECT_WORDS = 4

Coverage = Callable[[str, str], float]  # (text, lang) -> share of its words the docs use
Specificity = Callable[[str, str], float]  # (analysed word, lang) -> how telling it is (IDF)


def _leaning_words(text: str, languages: Sequence[str]) -> dict[str, set[str]]:
    """The text's words that belong to one language: everyday there and far rarer in every
    other. Word lists drawn from the web hold each language's common words in the other
    ("still", "can" and "fix" are listed French, though 100 times rarer than in English),
    so being listed in one language only is too strict a test."""
    words = set(_WORDS.findall(text.lower()))
    frequency = {code: {w: word_frequency(w, code) for w in words} for code in languages}
    return {
        code: {w for w in words if is_common_word(w, code)
               and all(frequency[code][w] - frequency[other][w] >= LEANING_ZIPF for other in languages if other != code)}
        for code in languages
    }


class Understander:
    def __init__(self, catalog: OptionCatalog, coverage: Coverage, specificity: Specificity,
                 languages: Sequence[str] = LANGUAGES, speller: Speller | None = None,
                 known: Callable[[str, str], bool] | None = None) -> None:
        self.catalog = catalog
        self.coverage = coverage
        self.specificity = specificity
        self.languages = tuple(languages)
        self.speller = speller
        self.known = known  # (word, lang) -> the docs use it or its stem

    def language(self, text: str, context_lang: str | None = None) -> str:
        """The detected language; on a short, ambiguous question the language of the
        conversation when there is one, else the one whose docs know more of its words."""
        talk = small_talk_language(text)
        if talk:
            return talk
        scores = {code: value for code, value in language_scores(text).items() if code in self.languages}
        if not scores:
            return context_lang or (self.languages[0] if self.languages else "en")
        best = max(scores, key=scores.get)
        if scores[best] >= AMBIGUOUS_LANGUAGE:
            return self._by_own_words(text, best)
        if context_lang in scores:
            return context_lang
        coverage = {code: self.coverage(text, code) for code in scores}
        top = max(coverage.values())
        leaders = [code for code in scores if coverage[code] >= top]
        if len(leaders) > 1:
            # The docs of both languages know as many of its words (product names are in
            # both): the language in which more of its words are everyday words decides
            # ("journey max nodes" is English).
            words = _WORDS.findall(text.lower())
            common = {code: sum(is_common_word(w, code) for w in words) for code in leaders}
            most = max(common.values())
            if sum(1 for v in common.values() if v == most) == 1:
                return max(common, key=common.get)
        return best if coverage.get(best, 0.0) >= top else max(coverage, key=coverage.get)

    def _by_own_words(self, text: str, detected: str) -> str:
        """``detected``, unless the text's everyday words say otherwise: two or more that
        belong to another language, none that belong to the detected one. Letter statistics
        misread short questions ("Can we A/B test those alert messages?" and "once it's
        active, can I still fix a typo in it?" scored French)."""
        only = _leaning_words(text, self.languages)
        if only.get(detected):
            return detected
        others = [code for code in only if code != detected and len(only[code]) >= OWN_WORDS]
        return others[0] if len(others) == 1 else detected

    def _option_swapped(self, turn: str, previous: QueryAnalysis | None, lang: str) -> str | None:
        """The previous question asked of another option: "same question for an action
        campaign" after "can I edit a journey after I publish it?" asks "can I edit an action
        campaign after I publish it?"."""
        subject = swapped_subject(turn)
        if not subject or previous is None or not self.catalog or len(subject.split()) > MAX_OPTION_SUBJECT_WORDS:
            return None
        new, old = self.catalog.mentions(subject, lang), self.catalog.mentions(previous.query, lang)
        if len({m.option_id for m in new}) != 1 or len({m.option_id for m in old}) != 1:
            return None
        if new[0].option_id == old[0].option_id:
            return None
        before, named = fold(previous.query), fold(subject)
        return before[: old[0].start] + named[new[0].start: new[0].end] + before[old[0].end:]

    def _choice_need(self, text: str, query: str, own_intent: str, previous: QueryAnalysis | None,
                     lang: str) -> tuple[str, bool]:
        """What a choice question needs, and whether it is chosen afresh (without the earlier
        turns' topic). ``previous``: the turn this one follows up, else None.

        A follow-up's need includes what the earlier turns said of it ("The outreach should
        ramp up … What would you set up for that?"), unless it puts a new subject in place of
        the earlier one ("and for a monthly newsletter?") or asks to choose again for a need of
        its own, pointing at nothing said before ("and for a one-off announcement to all
        customers - same thing or something else?"): the earlier need and its recommendation
        would pull that vote back to them."""
        if previous is None:
            return need_text(query, lang, self.catalog), False
        after_a_choice = previous.intent == "choose" and not points_back(text)
        swapped = swapped_subject(text) if after_a_choice else None
        if swapped and len(need_text(swapped, lang, self.catalog).split()) >= 2:
            return need_text(swapped, lang, self.catalog), True
        own_need = need_text(query, lang, self.catalog)
        if after_a_choice and own_intent == "choose" and previous.need and len(own_need.split()) >= NEW_NEED_WORDS:
            return own_need, True
        return need_text(f"{previous.query} {query}", lang, self.catalog), False

    def _about_the_options(self, analysis: QueryAnalysis) -> bool:
        """The question names several options, or a group of them ("campaign types")."""
        return len(set(analysis.options)) >= 2 or any(self.catalog.members(o) for o in analysis.options)

    def analyze(self, question: str, *, lang: str | None = None, history: Sequence[str] = (),
                previous: QueryAnalysis | None = None, previous_answer: str = "") -> QueryAnalysis:
        """``history``: the earlier user turns, oldest first; ``previous``: the analysis of
        the last of them, when the caller has it; ``previous_answer``: kb's own answer to
        it, whose recommended option is part of the topic ("which channels can I send
        *those* with?" after "Recommended: Orchestrated Campaign")."""
        text = without_greeting(question)
        small = is_small_talk(text)
        history = [h for h in history if h.strip() and not is_small_talk(h)]
        if history and previous is None:
            previous = self.analyze(history[-1], lang=lang, history=history[:-1])
        context_lang = previous.lang if previous is not None else None
        question_lang = self.language(text, context_lang)
        if self.speller is not None and self.known is not None and not small:
            text = self.speller.correct(text, question_lang, lambda word: self.known(word, question_lang))
        own_intent = classify(text, question_lang, self.catalog, small_talk=small)
        # A turn that asks nothing of its own ("c'est pour des rappels de rdv : chaque client a
        # sa date …") adds to what the conversation asked, whatever words it opens with.
        adds_to_the_ask = own_intent == "other" and "?" not in text and not _ASKS_ITS_OWN.search(text)
        follow_up = bool(history) and not small and (is_follow_up(text) or adds_to_the_ask)
        rewritten = (standalone(text, history) or self._option_swapped(text, previous, question_lang)) if follow_up else None
        query = rewritten or text
        # A turn in a conversation that is not a plain swap of subject is retrieved with the
        # turns before it beside it ("can we have it go out at 8am?" after the ski-resort
        # announcement; "what if my flow needs more than that?"), whether or not its words
        # point back: its own words weigh more, and the topic is often two turns back (a
        # business, then its need, then "which approach?"). After a recommendation, the option
        # kb recommended is part of the topic; any other answer names options in passing.
        context = ""
        named = self.catalog.named(previous_answer, question_lang)[:1] if previous_answer and self.catalog else []
        recommended = " ".join(self.catalog.label(o, question_lang) for o in named)
        if rewritten is None and previous is not None:
            earlier = " ".join(history[-CONTEXT_TURNS:])
            context = f"{earlier} {recommended if previous.intent == 'choose' else ''}".strip()
        intent = own_intent
        options = tuple(self.catalog.named(text, question_lang)) if self.catalog else ()
        if (not options and named and follow_up and rewritten is None and previous is not None
                and previous.intent == "choose" and points_back(text)):
            # "can we A/B test the subject line with that?" after "Recommended: Action
            # Campaign": what the turn points at is the option kb recommended, so it is the
            # option the turn asks about (an availability row's verdict, that option's column).
            options = tuple(named)
        if (not options and follow_up and previous is not None and len(set(previous.options)) >= 2
                and rewritten is None and not swapped_subject(text)):
            # "which one?" after "what's the difference between a journey and an orchestrated
            # campaign?": the options the conversation set side by side are still the ones asked about.
            options = previous.options
        # A yes/no asked in words of its own ("et ça marche aussi pour les SMS ?") is the turn's
        # own question; a condition added to a figure or a yes/no ("and if my use case needs
        # more than that?") asks what then, not the same fact again; added to a choice or a
        # question about the options, it asks that again.
        own_yes_no = own_intent == "can" and asks_yes_no(text, question_lang)
        condition = bool(_CONDITION.match(text)) and previous is not None and previous.intent in ("quantity", "can")
        # A turn that asks to choose in its own words ("parcours ou campagne ?") chooses,
        # whatever it continues.
        if follow_up and previous is not None and previous.intent != "smalltalk" and own_intent != "choose" and (
            rewritten is not None or continues_ask(text) or (intent == "other" and not _ASKS_ITS_OWN.search(text))
        ) and not ((own_yes_no or condition) and rewritten is None):
            # "and for a monthly newsletter?" asks what the turn before asked, of another need;
            # "which channels can I send those with?" asks a question of its own.
            intent = previous.intent
            if intent in ("whatis", "other") and not options and self._about_the_options(previous):
                # After a question about the options themselves ("what's the difference between
                # action and API-triggered campaigns?"), "and for fraud alerts?" asks which fits.
                intent = "choose"
        if context and named and previous.intent == "choose" and intent != "choose":
            # After a recommendation, a question of another kind ("what roles do my team need to
            # build it?") asks about the option recommended; the need that led to it was
            # answered, and its words would pull the search back to the same use case.
            context = recommended
        need = ""
        if intent == "choose":
            need, fresh = self._choice_need(text, query, own_intent, previous if follow_up else None, question_lang)
            if fresh:
                context = ""
        # Rarest first; among equally rare terms, the asker's order (a set's order would
        # change with Python's string hashing from one process to the next, and the terms
        # the answer weighs first with it).
        terms = sorted(dict.fromkeys(analyze(query, question_lang)), key=lambda t: -self.specificity(t, question_lang))
        return QueryAnalysis(
            text=text,
            query=query,
            lang=question_lang,
            answer_lang=lang or question_lang,
            intent=intent,
            options=options,
            subject=tuple(terms),
            asks_price=asks_price(text, question_lang),
            measure=(asks_measure(text, question_lang, quantity=intent == "quantity")
                     if intent not in ("choose", "smalltalk") else ""),
            counted=counted_words(text, question_lang) if intent == "quantity" else (),
            compares=asks_difference(text, question_lang),
            follow_up=follow_up,
            context=context,
            need=need if len(need.split()) >= 2 else "",
            explicit_lang=lang is not None,
            previous_answer=previous_answer if follow_up else "",
        )

