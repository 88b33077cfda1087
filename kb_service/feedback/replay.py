"""Gaps close themselves: after a re-index, replay the stored gap questions against the new build.

A question kb abstained on is resolved when the new build answers it with confidence; a
down-voted answer is resolved when the new build answers with confidence *and* cites other
sections than the answer users voted down (the same sections would give the same answer).
Only answers given by an older build are replayed: the build that gave them would answer
the same way again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from kb_service.feedback.gaps import MAX_QUESTIONS, question_key

log = logging.getLogger("kb_service.feedback")

# An answer this confident counts as an answer (the calibrated abstention threshold is 0.5).
RESOLVED_CONFIDENCE = 0.5
REPLAY_WINDOW_S = 365 * 86400.0  # every stored gap; retention bounds it anyway


def replay_gaps(store, kb, build: str, *, now: float | None = None, claim: bool = True) -> dict[str, Any] | None:
    """Replay the open gap questions against ``kb`` (serving ``build``); mark those it now answers.

    With ``claim``, only the first process to ask for ``build`` replays it (several server
    workers reload together); the others get None.
    """
    now = time.time() if now is None else now
    if claim and not store.claim_replay(build, now):
        return None
    by_question: dict[str, list[dict]] = defaultdict(list)
    for row in store.gaps(now - REPLAY_WINDOW_S, MAX_QUESTIONS):
        if row["question"] and row["resolved_build"] is None and row["build"] != build:
            by_question[question_key(row["question"])].append(row)
    resolved_ids: list[str] = []
    for key in sorted(by_question):
        rows = by_question[key]
        answer = kb.ask(rows[0]["question"])
        if answer.abstained or answer.confidence < RESOLVED_CONFIDENCE:
            continue
        cited = {c.hit.chunk.chunk_id for c in answer.citations}
        for row in rows:
            if row["abstained"] or (row["rating"] == "down" and cited != set(row["cited_chunks"])):
                resolved_ids.append(row["answer_id"])
    resolved = store.mark_resolved(resolved_ids, build, time.time())
    store.finish_replay(build, time.time(), questions=len(by_question), resolved=resolved)
    log.info("gap questions replayed", extra={"fields": {"event": "gaps_replayed", "build": build,
                                                         "questions": len(by_question), "resolved": resolved}})
    return {"build": build, "questions": len(by_question), "resolved": resolved}
