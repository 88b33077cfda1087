"""What a choice's need requires, read against availability matrices (pure, hand-made rows)."""

from __future__ import annotations

from kb_service.compose.choice import Vote, _apply_requirements
from kb_service.compose.passages import Passage
from kb_service.compose.requirements import (Requirement, asked_labels, capability_of, lacking, negated, required,
                                             without_negated)
from kb_service.compose.stance import matrix_columns, unit_stances
from kb_service.profiles import load_profile
from kb_service.store.lexical import analyze
from kb_service.text.options import OptionCatalog
from kb_service.types import Chunk, Hit

PROFILE = load_profile("journey-optimizer")
CATALOG = OptionCatalog(PROFILE)
MEMBERS = {o: CATALOG.members(o) for o in CATALOG.options}
HEADERS = ("Capability", "Journeys", "Action Campaigns", "API-triggered Campaigns", "Orchestrated Campaigns")


def row(label, marks, lang="en", chunk_id="r"):
    cells = tuple(zip(HEADERS, (label, *marks)))
    text = " | ".join(f"{h}: {c}" for h, c in cells)
    return Chunk(chunk_id=chunk_id, source="s", path="help/using/start/journeys-vs-campaigns.md", lang=lang, title="Guide",
                 heading_path=("Guide", "Feature availability"), anchor="a", url="u", alt_url=None, line_start=1,
                 line_end=1, kind="table_row", text=text, embed_text=text, cells=cells)


def capability(label, marks, chunk_id="r"):
    chunk = row(label, marks, chunk_id=chunk_id)
    return capability_of(chunk, matrix_columns(chunk, CATALOG), analyze)


WAIT = ("✅", "❌", "❌", "✅")


def test_an_availability_row_names_who_has_it_and_a_row_all_options_share_separates_nothing():
    wait = capability("Wait activities", WAIT)
    assert wait.has == {"journey", "orchestrated"} and wait.lacks == {"action", "api"}
    assert capability("Email", ("✅", "✅", "✅", "✅")) is None
    described = row("Timing", ("Continuous", "Scheduled", "API call", "Batch"))
    assert capability_of(described, matrix_columns(described, CATALOG), analyze) is None


def test_a_need_asks_for_a_capability_through_the_profiles_everyday_phrases():
    groups = PROFILE.needs["en"]
    need = "a welcome email right away, then a guide a couple of days later, and a discount only if they haven't ordered"
    labels = asked_labels(need, groups)
    assert "wait activities" in labels and "conditional branching" in labels
    wait, branching = capability("Wait activities", WAIT), capability("Conditional branching", WAIT)
    counts = capability("Exact pre-send counts", ("❌", "❌", "❌", "✅"))
    terms = set(analyze(f"{need} {labels}", "en"))
    assert required([wait, branching, counts], terms, need) == [wait, branching]


def test_what_the_need_does_without_asks_for_nothing_but_a_negated_condition_still_does():
    assert "wait" not in without_negated("one identical SMS at 10am, no waits, no branching", "en")
    assert "haven't" in without_negated("nudge them if they haven't opened it", "en")
    assert "relance" not in without_negated("un seul envoi, pas de relance", "fr")


def test_a_one_word_label_must_occur_as_such():
    in_app = capability("In-app", ("✅", "✅", "✅", "❌"))
    need = "our mobile app backend must send a reset code"
    assert required([in_app], set(analyze(need, "en")), need) == []
    need = "can we show an in-app message"
    assert required([in_app], set(analyze(need, "en")), need) == [in_app]


def test_a_requirement_rules_out_the_topical_favourite_and_its_row_votes_for_who_has_it():
    counts = capability("Exact pre-send counts", ("❌", "❌", "❌", "✅"))
    chunk = row("Exact pre-send counts", ("❌", "❌", "❌", "✅"))
    passage = Passage(hit=Hit(chunk=chunk, score=0.0), units=unit_stances(chunk, CATALOG, True), similarity=(0.0,),
                      matrix=matrix_columns(chunk, CATALOG))
    tally = {"action": Vote("action", 1.0, 0, 0), "journey": Vote("journey", 0.5, 0, 0)}
    passages = []
    out = _apply_requirements(tally, passages, MEMBERS, [Requirement(counts, passage)])
    assert max(out.values(), key=lambda v: v.evidence).option == "orchestrated"
    assert passages == [passage] and out["orchestrated"].passage == 0
    assert lacking("campaigns", [counts], MEMBERS) == [counts]


def test_a_declined_capability_weighs_a_little_against_the_options_built_for_it():
    wait = capability("Wait activities", WAIT)
    assert "waits" in negated("one identical SMS at 10am, no waits, no branching", "en")
    tally = {"action": Vote("action", 1.0, 0, 0), "journey": Vote("journey", 1.2, 0, 0)}
    out = _apply_requirements(tally, [], MEMBERS, [Requirement(wait, None, declined=True)])
    assert out["journey"].evidence < out["action"].evidence == 1.0
