"""Follow-up questions in a conversation: turn an elliptic turn into a standalone question.

"which approach for cart abandonment?" then "and for a monthly newsletter?" must be asked
as "which approach for a monthly newsletter?". Pure string work, no model.
"""

from __future__ import annotations

import re
from typing import Sequence

# Openers that mark a turn as a continuation of the previous question.
_FOLLOW_UP = re.compile(
    r"""^\s*(?:
        and\s+(?:for|about|with|if|what\s+about|how\s+about)?
      | what\s+about | how\s+about | same\s+(?:question\s+)?for | and\s+then
      | et\s+(?:pour|pour\s+les|avec|si|concernant|qu'en\s+est-il\s+d[e'u]s?)?
      | qu'en\s+est-il\s+d[e'u]s? | pareil\s+pour | m[eê]me\s+question\s+pour
      | also | aussi | or | so | ok | okay | then | if | but | still | alors | donc | du\s+coup | mais | sinon | si
      # an acknowledgement of the answer before the next ask ("nice. and can I …?")
      | nice | great | cool | thanks | thank\s+you | perfect | got\s+it | understood | super | parfait
      | merci | d'accord | g[ée]nial | entendu | tr[eè]s\s+bien
    )\b[\s,:.!]*""",
    re.I | re.X,
)
# The question frame of the previous turn: "which approach for", "quelle approche pour", ...
_FRAME = re.compile(
    r"""^(?P<frame>.*?\b(?:for|pour|to|with|avec|about|sur)\b)\s+(?!.*\b(?:for|pour)\b)""",
    re.I | re.X,
)
MAX_SWAPPED_WORDS = 6  # "and for a monthly newsletter?" swaps in at most a few words
# A turn this short in a conversation leans on what came before ("combien de rappels max ?").
SHORT_TURN_WORDS = 5
# Words that point back at something said before wherever they stand ("send *those* texts").
_STRONG_ANAPHORA = re.compile(
    r"\b(those|these|them|they|the\s+same|ces|ceux|celles|ça|cela|leur|leurs|lui|eux|le\s+même|la\s+même)\b"
    # "what would you set up for that?": a need named before, pointed at from the end
    r"|\b(for|with|about|pour|avec)\s+(that|this|it)\b|\b(of\s+the\s+two|des\s+deux)\b"
    # "there" closing the ask: the place named before ("what's the max duration there?")
    r"|\bthere\s*[?.!]"
    # one of the things named before ("does the second one send messages?")
    r"|\b(the\s+(first|second|other|latter|former)(\s+one)?|le\s+premier|la\s+premi[eè]re|le\s+second|la\s+seconde"
    r"|le\s+deuxi[eè]me|la\s+deuxi[eè]me|l'autre)\b"
    # possessives that stand for something named before ("mine is getting close to that")
    r"|\b(mine|ours|le\s+mien|la\s+mienne|le\s+n[ôo]tre|la\s+n[ôo]tre)\b"
    # asking for more of what was just said ("can you give me a concrete example?")
    r"|\b((an?|the)\s+(concrete\s+|real\s+|specific\s+)?example|tell\s+me\s+more|more\s+details?"
    r"|un\s+exemple|en\s+dire\s+plus|plus\s+de\s+d[ée]tails?)\b", re.I
)
# Words that point back only when the turn opens with them ("can we have *it* go out at 8am?").
_ANAPHORA = re.compile(
    r"\b(it|its|that|those|them|they|this\s+one|these|the\s+same|ones|there|ça|cela|celui|celle|ceux|celles|"
    r"le\s+même|la\s+même|les\s+mêmes|dedans|y\s+a|l'envoyer|les\s+envoyer|le\s+faire)\b",
    re.I,
)


# "could we also send it …": a pronoun this near the start points back; further on it
# usually points inside the turn ("how do I test my journey before publishing it?").
OPENING_WORDS = 5


def points_back(turn: str) -> bool:
    """The turn points at something said before: a pronoun among its first words, or a
    word that points back wherever it stands."""
    opening = " ".join(turn.split()[:OPENING_WORDS])
    return bool(_ANAPHORA.search(opening)) or bool(_STRONG_ANAPHORA.search(turn))


def is_follow_up(turn: str) -> bool:
    """The turn continues the conversation: it opens like a continuation ("and for …?"),
    is too short to stand alone, or points back with a pronoun among its first words ("can
    we have it go out at 8am?", "et ça coûte combien ?"); a pronoun further on usually
    points inside the turn ("how do I test my journey before publishing it?")."""
    return bool(_FOLLOW_UP.match(turn)) or len(turn.split()) <= SHORT_TURN_WORDS or points_back(turn)


# A question word in what follows the continuation words: the turn asks its own question
# ("and how long can a profile stay?", "et ça coûte combien ?"). Words that also open a
# relative clause ("the people who didn't open it") do not count.
_OWN_ASK = re.compile(
    r"\b(what|which|how|why|who|where|when|quoi|quel|quelle|quels|quelles|comment|combien|pourquoi|lequel|laquelle"
    r"|qu'est-ce|o[uù]|quand|[àa]\s+qui)\b|^\W*qui\b"
    r"|^\W*(can|could|does|do|is|are|will|would|should|peut|peux|est-ce)\b",
    re.I,
)


def continues_ask(turn: str) -> bool:
    """The turn only adds to the previous question ("and if a few days later I want …?",
    "et pour un fragment ?"): it opens with continuation words and no question word of its
    own follows them, so it asks what the turn before asked."""
    rest = turn
    while True:
        match = _FOLLOW_UP.match(rest)
        if not match or match.end() == 0:
            break
        rest = rest[match.end():]
    rest = rest.lstrip(" .,;:!-")
    return rest != turn.lstrip(" .,;:!-") and bool(rest) and not _OWN_ASK.search(rest)


# Openers that put a new subject in the place of the previous one ("and for a monthly
# newsletter?", "what about a holiday greeting?", "et pour les alertes ?").
_SWAP = re.compile(
    r"""^\s*(?:(?:ok(?:ay)?|thanks|merci|d'accord|got\s+it)[\s,.!]+)?(?:
        and\s+(?:for|about|with) | what\s+about | how\s+about | same\s+(?:question\s+)?for
      | et\s+(?:pour|avec|concernant) | qu'en\s+est-il\s+(?:de|du|des|d') | pareil\s+pour | m[eê]me\s+question\s+pour
    )\b\s*
    # "and the holiday greeting we send everyone?", "et la newsletter ?": a bare "and" before
    # a new subject swaps it in too
    | ^\s*(?:and|et)\s+(?=(?:the|a|an|our|le|la|les|l'|un|une|notre|nos)\b)""",
    re.I | re.X,
)


def swapped_subject(turn: str) -> str | None:
    """What the turn puts in place of the previous subject ("a monthly newsletter" in "and
    for a monthly newsletter?"), when it opens like a swap, else None."""
    match = _SWAP.match(turn)
    if not match:
        return None
    rest = turn[match.end():].strip(" ?!.")
    return rest or None


def standalone(turn: str, history: Sequence[str]) -> str | None:
    """The turn rewritten as a standalone question when it only swaps the subject of the
    previous one ("and for a monthly newsletter?" after "which approach for cart
    abandonment?"), else None."""
    if not history or not _FOLLOW_UP.match(turn):
        return None
    previous = history[-1]
    if len(history) > 1:
        previous = standalone(previous, history[:-1]) or previous
    topic = _FOLLOW_UP.sub("", turn, count=1).strip()
    frame = _FRAME.match(previous)
    # Only a short new subject in a single-sentence question frame is a swap of subject;
    # anything longer is a question of its own, retrieved with the earlier turn beside it.
    single_question = not re.search(r"[.!?]\s+\S", previous.strip())
    if topic and frame and single_question and len(topic.split()) <= MAX_SWAPPED_WORDS and len(frame.group("frame").split()) <= 8:
        return f"{frame.group('frame')} {topic}"
    return None
