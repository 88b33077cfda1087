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
    no nope sure alright right well done again appreciated appreciate please
    bonjour bonsoir salut coucou hello merci beaucoup bien mille parfait super génial
    top daccord dac ok oui non au revoir à plus tard bientôt bonne journée soirée nuit
    cest noté entendu compris re
    """.split()
)
_TOKEN = re.compile(r"[^\W\d_]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("'", "")
    return text


def is_small_talk(text: str) -> bool:
    """True when every word of ``text`` is a greeting, thanks or acknowledgement (en/fr)."""
    words = _TOKEN.findall(_fold(text))
    return bool(words) and len(words) <= 8 and all(word in _WORDS for word in words)
