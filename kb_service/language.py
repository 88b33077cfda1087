"""Question language detection (English or French), with lingua restricted to the two.

Short questions are where detectors fail, so lingua is limited to the languages the corpus
has; text with no letters falls back to the default.
"""

from __future__ import annotations

import threading
from functools import lru_cache

SUPPORTED = ("en", "fr")
_lock = threading.Lock()
_detector = None


def _get_detector():
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from lingua import Language, LanguageDetectorBuilder

                _detector = (
                    LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.FRENCH)
                    .with_preloaded_language_models()
                    .build()
                )
    return _detector


@lru_cache(maxsize=4096)
def detect_language(text: str, default: str = "en") -> str:
    """Return "en" or "fr" for ``text``; ``default`` when it has no letters to judge by."""
    if not any(ch.isalpha() for ch in text):
        return default
    from lingua import Language

    language = _get_detector().detect_language_of(text)
    if language == Language.FRENCH:
        return "fr"
    if language == Language.ENGLISH:
        return "en"
    return default


def warm_up() -> None:
    detect_language("warm up the language detector")
