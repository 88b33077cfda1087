"""Typos against the docs' own words (pure): "campain" → "campaign", "jouney" → "journey".

Chat questions are typed fast, and a dropped letter makes a word the docs never use: lexical
search misses it, the small embedding model reads it as noise, and answerability counts it
as an unknown name. A word is corrected only when it is unknown to the docs (neither it nor
its stem occurs in them), is written in lower case (a capitalised word or an acronym is a
name: "Marketo", "CJA"), is long enough to be a typo rather than an abbreviation, and a
word of the docs lies one keystroke away: a letter left out, or, in a long word, a wrong
letter or two letters swapped; and it is not a common word of the language the docs merely
never use (word frequencies from the wordfreq package). A letter too many is not corrected: removing one turns real names into docs words
("marketo" → "market"). Among candidates the docs' most frequent word wins.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Callable, Iterable

MIN_LENGTH = 4  # "wich" → "which"; shorter words are abbreviations more often than typos
MIN_LENGTH_CHANGED = 7  # a wrong or swapped letter is corrected only in a long word ("easyest")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_LETTERS = {
    "en": "abcdefghijklmnopqrstuvwxyz",
    "fr": "abcdefghijklmnopqrstuvwxyzéèêàâçôûîùëï",
}

Known = Callable[[str], bool]  # (word) -> the docs use it or its stem
# A word at least this common in the language (Zipf scale: 3 is once per million words) is
# a word, not a typo, even when the docs never use it: "deal" is not "ideal", "mois" not
# "moins". Typos sit below 2 ("campain" 1.5, "jouney" 0); "wich" 2.8, a common slip.
COMMON_ZIPF = 3.0


@lru_cache(maxsize=65536)  # asked per word of every question: chat repeats its words
def word_frequency(word: str, lang: str) -> float:
    """How common ``word`` is in ``lang``, on the Zipf scale (0 when unlisted)."""
    from wordfreq import zipf_frequency  # its word lists load on first use

    # The "small" lists hold the words at least once per million: all the threshold needs,
    # in 7 MB of memory a process instead of the full lists' 68 MB (measured, en + fr).
    return zipf_frequency(word, lang, wordlist="small")


def is_common_word(word: str, lang: str) -> bool:
    return word_frequency(word, lang) >= COMMON_ZIPF


def docs_words(texts: Iterable[str]) -> Counter:
    """How often each lower-case word occurs in ``texts`` (the corpus of one language)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(word.lower() for word in _WORD.findall(text))
    return counts


class Speller:
    def __init__(self, words: dict[str, Counter]) -> None:
        self._words = words

    def candidates(self, word: str, lang: str) -> tuple[set[str], set[str]]:
        """Words one keystroke away: (a letter left out), (a wrong letter or two swapped)."""
        letters = _LETTERS.get(lang, _LETTERS["en"])
        left_out = {word[:i] + letter + word[i:] for i in range(len(word) + 1) for letter in letters}
        others = {word[:i] + letter + word[i + 1:] for i in range(len(word)) for letter in letters}
        others |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
        others.discard(word)
        return left_out, others

    def correct_word(self, word: str, lang: str, known: Known) -> str:
        if len(word) < MIN_LENGTH or word != word.lower() or known(word) or is_common_word(word, lang):
            return word
        counts = self._words.get(lang)
        if not counts:
            return word
        # A letter left out is the commonest slip: "wich" is "which" before it is "with". A
        # wrong letter in a short word is as likely another word: "cost" is not "most".
        left_out, others = self.candidates(word, lang)
        for candidates in (left_out, others if len(word) >= MIN_LENGTH_CHANGED else ()):
            found = [c for c in candidates if counts.get(c, 0) > 0]
            if found:
                return max(found, key=lambda c: (counts[c], c))
        return word

    def correct(self, text: str, lang: str, known: Known) -> str:
        """``text`` with each unknown lower-case word replaced by the docs' word one
        keystroke away, when there is one."""
        return _WORD.sub(lambda m: self.correct_word(m.group(0), lang, known), text)
