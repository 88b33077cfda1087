"""Choice answers: which option fits, by an evidence-weighted vote over the passages (pure).

Every unit that speaks for an option (compose.stance) votes for it with the weight of its
evidence: how high retrieval ranked its passage (relative to the top one) times how close
the unit is in meaning to the question. A passage votes once per option, with its best
unit. The option with the most evidence wins when it leads the runner-up clearly; when it
does not, the answer names both and quotes, for each, the unit that speaks for it, so the
reader sees what separates them in the docs' own words.

An option that stands for several ("Campaigns (Action & API)") is resolved to the member
the evidence favours, or, when the passages speak only of the group, to the member whose
own units are closest in meaning to the question (``prototypes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from kb_service.compose.passages import Analyzer, Passage, TermWeight, word_overlap
from kb_service.compose.requirements import CAPABILITY_VOTE, DECLINED, RULED_OUT, Requirement, lacking

READ = 6  # passages that vote: the top of the ranking, where the evidence is
# A unit's evidence: its cosine with the need plus this share of the need's telling words it
# holds (the docs' words for the user's included: "parcel" finds "shipping"). The small model
# misses many such paraphrases; the words catch some of them.
WORD_SHARE = 0.5
CLEAR_LEAD = 1.25  # the winner must have this many times the runner-up's evidence
FOCUS_WEIGHT = 1.2  # the unit retrieval matched through its handle weighs a little more


@dataclass(frozen=True)
class Vote:
    option: str
    evidence: float
    passage: int  # index of the passage whose unit carries most of the evidence
    unit: int  # that unit


# The comparison material's own units closest to the need, wherever retrieval ranked their
# passage, vote too: a choice is about the need, and retrieval's ranking of whole passages
# also rewards sharing the asker's incidental words. Each further unit weighs less.
NEAREST_UNITS = 8
NEAREST_DECAY = 0.8


@dataclass(frozen=True)
class Candidate:
    """A unit of the comparison material near the need (found over the whole corpus)."""

    passage: Passage
    unit: int
    cosine: float


@dataclass(frozen=True)
class Choice:
    winner: Vote
    runner_up: Vote | None  # set when the lead is not clear: the answer names both
    passages: tuple[Passage, ...] = ()  # what Vote.passage indexes: the ranked passages, then candidates'

    @property
    def decided(self) -> bool:
        return self.runner_up is None


def _relevance(passages: Sequence[Passage]) -> list[float]:
    top = passages[0].hit.score if passages else 0.0
    if top <= 0:
        return [0.0] * len(passages)
    return [max(0.0, p.hit.score / top) for p in passages]


def _matrix_votes(passage: Passage, relevance: float, need: set[str], analyze: Analyzer | None,
                  weight: TermWeight | None) -> dict[str, tuple[float, int]]:
    """A comparison-matrix row ("Use when | Journeys: … | Campaigns: Simple message to
    audience at specific time | …") votes for the column whose cell says most of the need."""
    if not passage.matrix or analyze is None or weight is None or not passage.similarity:
        return {}
    cells = passage.chunk.cells
    scores = {
        option: word_overlap(need, cells[column][1], passage.chunk.lang, analyze, weight)
        for column, option in passage.matrix.items()
        if column < len(cells)
    }
    if not scores:
        return {}
    top = max(scores.values())
    leaders = [option for option, score in scores.items() if score == top]
    if top <= 0 or len(leaders) != 1:
        return {}
    cosine = max(0.0, passage.need_similarity[0] if passage.need_similarity else passage.similarity[0])
    return {leaders[0]: (relevance * (cosine + WORD_SHARE * top) * top, 0)}


def votes(passages: Sequence[Passage], members: Mapping[str, tuple[str, ...]], need: set[str] = frozenset(),
          analyze: Analyzer | None = None, weight: TermWeight | None = None,
          asked: frozenset[str] = frozenset()) -> dict[str, Vote]:
    """Option -> its summed evidence and its strongest unit."""
    totals: dict[str, float] = {}
    strongest: dict[str, tuple[float, int, int]] = {}
    for p_index, (passage, relevance) in enumerate(zip(passages[:READ], _relevance(passages[:READ]))):
        focus = passage.focus_index()
        restated = _restated(passage, asked, analyze, weight)
        best: dict[str, tuple[float, int]] = _matrix_votes(passage, relevance, need, analyze, weight)
        for u_index, (stance, cosine) in enumerate(zip(passage.units, passage.need_similarity or passage.similarity)):
            if stance.option is None:
                continue
            if u_index == 0:
                cosine = max(cosine, restated)
            words = (word_overlap(need, stance.unit.embed_text, passage.chunk.lang, analyze, weight)
                     if analyze is not None and weight is not None else 0.0)
            evidence = relevance * (max(0.0, cosine) + WORD_SHARE * words) * (FOCUS_WEIGHT if u_index == focus else 1.0)
            if evidence > best.get(stance.option, (0.0, -1))[0]:
                best[stance.option] = (evidence, u_index)
        for option, (evidence, u_index) in best.items():
            totals[option] = totals.get(option, 0.0) + evidence
            if evidence > strongest.get(option, (0.0, -1, -1))[0]:
                strongest[option] = (evidence, p_index, u_index)
    return {
        option: Vote(option, total, strongest[option][1], strongest[option][2])
        for option, total in totals.items()
        if total > 0
    }


def _restated(passage: Passage, asked: frozenset[str], analyze: Analyzer | None, weight: TermWeight | None) -> float:
    """How much of an FAQ entry's own question the asker's question (its analysed words,
    ``asked``) restates, by the FAQ question's telling words.

    An FAQ answer opens with its answer to its question; asked that question in other words
    ("which approach is the easiest to build first?" for "Which approach is easier to
    build?"), its opening unit is what the asker wants, however far its wording is from the
    need's in meaning. Only the opening unit: the rest qualifies it."""
    chunk = passage.chunk
    if chunk.kind != "faq" or len(chunk.heading_path) < 2 or analyze is None or weight is None or not asked:
        return 0.0
    own = set(analyze(chunk.heading_path[-1], chunk.lang))
    total = sum(weight(t) for t in own)
    return sum(weight(t) for t in own & asked) / total if total else 0.0


def nearest_votes(candidates: Sequence[Candidate], need: set[str], analyze: Analyzer | None,
                  weight: TermWeight | None) -> list[tuple[str, float, Candidate]]:
    """(option, evidence, candidate) for the nearest units, best first, decayed by rank."""
    scored = []
    for candidate in candidates:
        stance = candidate.passage.units[candidate.unit]
        words = (word_overlap(need, stance.unit.embed_text, candidate.passage.chunk.lang, analyze, weight)
                 if analyze is not None and weight is not None else 0.0)
        scored.append((max(0.0, candidate.cosine) + WORD_SHARE * words, candidate))
    scored.sort(key=lambda pair: -pair[0])
    return [(c.passage.units[c.unit].option, score * NEAREST_DECAY ** rank, c)
            for rank, (score, c) in enumerate(scored[:NEAREST_UNITS])]


def decide(passages: Sequence[Passage], members: Mapping[str, tuple[str, ...]],
           prototypes: Mapping[str, float], need: set[str] = frozenset(), analyze: Analyzer | None = None,
           weight: TermWeight | None = None, candidates: Sequence[Candidate] = (),
           requirements: Sequence[Requirement] = (), shortlist: frozenset[str] = frozenset(),
           asked: frozenset[str] = frozenset()) -> Choice | None:
    """The recommended option, or None when nothing speaks for any. ``need``: the analysed
    words of what the options must fit; ``candidates``: the comparison units nearest to it;
    ``requirements``: the capabilities the need asks for or declines (compose.requirements),
    each with its matrix row: an option lacking an asked one keeps little of its evidence and
    the row votes for the options that have it; an option built for a declined one keeps a
    little less.

    ``shortlist``: the options the asker set side by side ("journey or orchestrated
    campaign?"), when they did: the recommendation is one of them, as long as the evidence
    speaks for any, with the option the evidence favours most beside it when that one is not
    on the list.

    Votes of nearest units are merged into the passages' by option; a vote's passage index
    then refers to ``passages + [candidate passages]``, in that order."""
    tally = votes(passages, members, need, analyze, weight, asked)
    extra = list(passages)
    for option, evidence, candidate in nearest_votes(candidates, need, analyze, weight):
        if option is None:
            continue
        current = tally.get(option)
        if current is None or evidence > _single(current, extra, need, analyze, weight):
            position = next((i for i, p in enumerate(extra) if p.chunk.chunk_id == candidate.passage.chunk.chunk_id), None)
            if position is None:
                extra.append(candidate.passage)
                position = len(extra) - 1
            strongest = (position, candidate.unit)
        else:
            strongest = (current.passage, current.unit)
        total = (current.evidence if current else 0.0) + evidence
        tally[option] = Vote(option, total, strongest[0], strongest[1])
    if requirements:
        tally = _apply_requirements(tally, extra, members, requirements)
    choice = _decide_from(tally, members, prototypes)
    asked = {option: vote for option, vote in tally.items() if option in shortlist}
    if choice is not None and asked and choice.winner.option not in shortlist:
        # The docs favour an option the asker did not list: the best of theirs first, and
        # the docs' own favourite beside it, so the reader sees both in the docs' words.
        within = _decide_from(asked, members, prototypes)
        choice = Choice(winner=within.winner, runner_up=choice.winner)
    return None if choice is None else Choice(choice.winner, choice.runner_up, tuple(extra))


def _apply_requirements(tally: dict[str, Vote], passages: list[Passage], members: Mapping[str, tuple[str, ...]],
                        requirements) -> dict[str, Vote]:
    """The tally once the need's requirements have ruled options out and their rows voted.
    ``passages`` grows by the rows that vote (a vote's passage index points into it)."""
    capabilities = [r.capability for r in requirements if not r.declined]
    declined = [r.capability for r in requirements if r.declined]
    strongest = max((v.evidence for v in tally.values()), default=1.0) or 1.0
    out = {option: Vote(option, vote.evidence * RULED_OUT ** len(lacking(option, capabilities, members))
                        * DECLINED ** (len(declined) - len(lacking(option, declined, members))),
                        vote.passage, vote.unit)
           for option, vote in tally.items()}
    for requirement in requirements:
        if requirement.declined:
            continue
        position = len(passages)
        passages.append(requirement.row)
        for option in requirement.capability.has:
            if lacking(option, capabilities, members):
                continue
            evidence = CAPABILITY_VOTE * strongest
            current = out.get(option)
            if current is None:
                out[option] = Vote(option, evidence, position, 0)
            else:
                out[option] = Vote(option, current.evidence + evidence, current.passage, current.unit)
    return out


def _single(vote: Vote, passages, need, analyze, weight) -> float:
    """The evidence of a vote's strongest unit alone (its cosine and words, unweighted)."""
    passage = passages[vote.passage]
    cosine = (passage.need_similarity or passage.similarity or (0.0,))[vote.unit] if passage.units else 0.0
    words = (word_overlap(need, passage.units[vote.unit].unit.embed_text, passage.chunk.lang, analyze, weight)
             if analyze is not None and weight is not None and passage.units else 0.0)
    return max(0.0, cosine) + WORD_SHARE * words


def _decide_from(tally: dict[str, Vote], members, prototypes) -> Choice | None:
    if not tally:
        return None
    ranked = sorted(tally.values(), key=lambda v: (-v.evidence, v.option))
    winner = ranked[0]
    if members.get(winner.option):
        winner = _resolve_group(winner, tally, members[winner.option], prototypes)
    rivals = [v for v in ranked if v.option != winner.option and v.option not in members.get(winner.option, ())
              and winner.option not in members.get(v.option, ())]
    runner_up = rivals[0] if rivals else None
    if runner_up is not None and winner.evidence >= CLEAR_LEAD * runner_up.evidence:
        runner_up = None
    return Choice(winner=winner, runner_up=runner_up)


def _resolve_group(group: Vote, tally: Mapping[str, Vote], members: tuple[str, ...],
                   prototypes: Mapping[str, float]) -> Vote:
    """The member of a group option that the evidence, else meaning, favours; it inherits the
    group's evidence and keeps its own strongest unit when it has one."""
    voted = [tally[m] for m in members if m in tally]
    if voted:
        best = max(voted, key=lambda v: (v.evidence, -members.index(v.option)))
        return Vote(best.option, group.evidence + best.evidence, best.passage, best.unit) \
            if best.evidence >= group.evidence * 0.5 else Vote(best.option, group.evidence + best.evidence, group.passage, group.unit)
    scored = [(prototypes.get(m, 0.0), m) for m in members]
    closest = max(scored)[1] if any(score > 0 for score, _ in scored) else members[0]
    return Vote(closest, group.evidence, group.passage, group.unit)
