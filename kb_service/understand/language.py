"""Question language detection (English or French), with lingua restricted to the two.

Short questions are where detectors fail, so lingua is limited to the languages the corpus
has; text with no letters falls back to the default.
"""

from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()
_detector = None


def _get_detector():
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from lingua import Language, LanguageDetectorBuilder

                # Low-accuracy mode uses lingua's trigram models only: 8 MB instead of ~75 MB of
                # resident memory per process. On our 288 labelled questions it misjudged 3, as
                # many as the full models (other ones, all below the 0.9 confidence at which
                # KnowledgeBase falls back to the corpus vocabulary), and kb eval is unchanged.
                _detector = (
                    LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.FRENCH)
                    .with_low_accuracy_mode()
                    .with_preloaded_language_models()
                    .build()
                )
    return _detector


@lru_cache(maxsize=4096)
def language_scores(text: str) -> dict[str, float]:
    """lingua's confidence for each supported language (they sum to 1; empty: no letters)."""
    if not any(ch.isalpha() for ch in text):
        return {}
    from lingua import Language

    codes = {Language.ENGLISH: "en", Language.FRENCH: "fr"}
    return {codes[v.language]: float(v.value) for v in _get_detector().compute_language_confidence_values(text) if v.language in codes}


def detect_language(text: str, default: str = "en") -> str:
    """Return "en" or "fr" for ``text``; ``default`` when it has no letters to judge by."""
    scores = language_scores(text)
    if not scores:
        return default
    return max(scores, key=scores.get)


def warm_up() -> None:
    detect_language("warm up the language detector")
