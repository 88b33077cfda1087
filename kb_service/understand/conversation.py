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
      | also | aussi | or
    )\b[\s,:]*""",
    re.I | re.X,
)
# The question frame of the previous turn: "which approach for", "quelle approche pour", ...
_FRAME = re.compile(
    r"""^(?P<frame>.*?\b(?:for|pour|to|with|avec|about|sur)\b)\s+(?!.*\b(?:for|pour)\b)""",
    re.I | re.X,
)
_MIN_STANDALONE_WORDS = 6


def is_follow_up(turn: str) -> bool:
    words = turn.split()
    return bool(_FOLLOW_UP.match(turn)) or len(words) <= 3


def contextualize(turn: str, history: Sequence[str]) -> str:
    """The question to retrieve for ``turn`` given the earlier user turns (oldest first)."""
    if not history or not is_follow_up(turn):
        return turn
    previous = history[-1]
    # The previous turn may itself have been a follow-up: resolve it first.
    if len(history) > 1:
        previous = contextualize(previous, history[:-1])
    topic = _FOLLOW_UP.sub("", turn, count=1).strip() or turn.strip()
    frame = _FRAME.match(previous)
    if frame:
        return f"{frame.group('frame')} {topic}"
    return f"{previous.rstrip(' ?')} — {topic}"
