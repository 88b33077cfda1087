"""Answer records, user feedback and the coverage-gaps report (docs/feedback.md).

``AnswerRecorder`` is the one way surfaces record an answer (``record(...) -> answer_id``);
``AnswerStore`` is the database; ``gaps_report`` and ``replay_gaps`` read and close the gaps.
"""

from kb_service.feedback.gaps import gaps_report, parse_since
from kb_service.feedback.recorder import AnswerRecorder, StoreUnavailable
from kb_service.feedback.replay import replay_gaps
from kb_service.feedback.store import AnswerStore, StoreError, database_url

__all__ = ["AnswerRecorder", "AnswerStore", "StoreError", "StoreUnavailable", "database_url", "gaps_report",
           "parse_since", "replay_gaps"]
