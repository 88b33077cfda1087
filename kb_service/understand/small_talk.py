"""Greetings, thanks and acknowledgements: chat turns that ask nothing of the docs.

A chat-bot backend forwards every user turn, "thanks!" and "bonjour" included. Retrieval
always finds *something* for them (a message template that says "thanks for your
purchase"), and an answer built from it would be nonsense, so such a turn abstains.
A turn with any other word ("thanks, and for newsletters?") is a real question.
"""

from __future__ import annotations

import re
import unicodedata

_WORDS = frozenset(
    """
    hi hello hey hiya howdy yo greetings good morning afternoon evening night day
    thanks thank you thx ty cheers much lot very so many great ok okay k kk cool nice
    perfect awesome super fine got it understood bye goodbye see later cya yes yeah yep
    no nope sure alright right well done again appreciated appreciate please that helps helped helpful
    bonjour bonsoir salut coucou hello merci beaucoup bien mille parfait super génial
    top daccord dac ok oui non au revoir à plus tard bientôt bonne journée soirée nuit
    cest noté entendu compris re
    there team everyone all folks guys léquipe tous tout le monde
    clear useful exactly excellent brilliant really was thats just what needed i we
    cétait très clair utile vraiment exactement excellent ça maide aidé
    a the for your my me of pour votre vos ton ta de du la le
    """.split()
)
# Words of a preamble before the question ("Quick question:", "Aidez-moi :"): they ask
# nothing either, but alone they are not small talk a chat-bot should answer as such.
_PREAMBLE_WORDS = _WORDS | frozenset(
    """
    question quick help needed wonder i can you tell me
    petite aidez moi besoin daide je demande pouvez vous dire
    """.split()
)
_TOKEN = re.compile(r"[^\W\d_]+")
# Longer than this, a run of such words is not a chat turn's thanks ("merci beaucoup pour votre
# aide d'hier, c'était super clair" is ten).
MAX_WORDS = 12
# What one thanks for ("thanks for the help", "merci pour votre aide"): small talk beside a
# thanks only; "help" alone asks for something.
_THANKS = frozenset("thanks thank thx ty cheers merci".split())
_THANKED_FOR = frozenset(
    "help answer answers answered everything info infos yesterday today aide réponse réponses explication explications"
    " tout hier dhier aujourdhui".split()
)
# Asking after the reader's well-being ("how are you?", "vous allez bien ?") asks nothing of
# the docs either; its words ("how", "comment") alone open real questions, so only the
# phrases count.
_WELL_BEING = re.compile(
    r"\b(?:how\s+are\s+(?:you|things)(?:\s+doing)?|how\s+(?:is|s)\s+it\s+going|how\s+do\s+you\s+do"
    r"|(?:comment\s+)?(?:ça|ca)\s+va(?:\s+bien)?|(?:vous\s+allez|tu\s+vas)\s+bien|comment\s+(?:allez\s+vous|vas\s+tu))\b"
)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("'", "")
    return text


def is_small_talk(text: str) -> bool:
    """True when every word of ``text`` is a greeting, thanks or acknowledgement, or part of
    asking after the reader's well-being (en/fr)."""
    folded = _fold(text).replace("-", " ")
    words = _TOKEN.findall(folded)
    rest = _TOKEN.findall(_WELL_BEING.sub(" ", folded))
    thanked = _THANKED_FOR if _THANKS & set(words) else frozenset()
    return bool(words) and len(words) <= MAX_WORDS and all(word in _WORDS or word in thanked for word in rest)


# "Salut !", "Hello,", "Hi there -": a greeting closed by punctuation before the question.
# A dash only with spaces around it: "Re-engagement" does not open with the greeting "re".
_GREETING_END = re.compile(r"[!,.:;?]+|\s[—–-]+\s")


def without_greeting(text: str) -> str:
    """``text`` without a leading greeting or preamble ("Salut ! quelles approches …" ->
    "quelles approches …", "Quick question: …"): they ask nothing, yet their words reach
    the docs ("salut" is the stem of "salutations", filed under seasonal greetings), so the
    same question got another answer with "Hello!" in front. Text that is only small talk,
    or whose opening words are not all greeting or preamble words, comes back unchanged."""
    rest = text
    while True:
        end = _GREETING_END.search(rest)
        if end is None:
            return rest
        opening, remainder = rest[: end.start()], rest[end.end():].strip()
        words = _TOKEN.findall(_fold(opening))
        if not words or not all(word in _PREAMBLE_WORDS for word in words) or not remainder or is_small_talk(remainder):
            return rest
        rest = remainder


_ENGLISH_TALK = frozenset(
    "hi hello hey hiya howdy yo greetings good morning afternoon evening thanks thank you thx ty cheers bye goodbye".split()
)
_FRENCH_TALK = frozenset("bonjour bonsoir salut coucou merci beaucoup revoir bientôt bonne journée soirée daccord".split())


def small_talk_language(text: str) -> str | None:
    """"en" or "fr" for small talk whose words belong to one language only ("hello", "merci"),
    else None: a language detector reads "hello" as French as readily as English."""
    if not is_small_talk(text):
        return None
    words = set(_TOKEN.findall(_fold(text)))
    english, french = bool(words & _ENGLISH_TALK), bool(words & _FRENCH_TALK)
    if english != french:
        return "en" if english else "fr"
    return None
