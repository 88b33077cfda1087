"""Promotion by evidence: a new build replaces the served one only if answers do not get worse.

``kb publish`` replays question sets (the evaluation sets, or any ``--questions`` file in
their format) against the candidate build and the current one side by side, through
kb_service.evaluation, and refuses when a gated metric drops by more than the tolerance.
The metrics gated are the ones a user feels: whether a right section is found (Recall@5),
how high (MRR@10), whether the recommended approach is right, and whether out-of-scope
questions are declined. Each set is compared on its own, so a small set's drop is not
hidden by a large set's stability.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb_service.evaluation import evaluate
from kb_service.store.index import BUILDS_DIR, verify_build
from kb_service.store.publish import (
    DEFAULT_KEEP,
    PublishError,
    build_view,
    copy_build,
    copy_tree_once,
    current_name,
    resolve_build,
    set_current,
    sweep_builds,
)

GATED_METRICS = (
    ("recall@5", "Recall@5"),
    ("mrr@10", "MRR@10"),
    ("approach_accuracy", "Approach accuracy"),
    ("abstention_accuracy", "Abstention accuracy"),
    # Recent real questions (from the feedback store) have no gold: what is gated is that the
    # questions kb answered, unrefuted by a down-vote, are still answered.
    ("still_answered", "Recent questions still answered"),
)
RECENT_SET = "recent questions"
DEFAULT_TOLERANCE = 0.02
SHOWN_QUESTIONS = 10  # per direction, per set: enough to see what moved


@dataclass
class SetComparison:
    """One question set run on the current build (``old``, None on a first publish) and the candidate."""

    name: str
    questions: int
    old: dict[str, Any] | None
    new: dict[str, Any]
    drops: list[str] = field(default_factory=list)  # "Recall@5 0.920 -> 0.850 (-0.070)"
    newly_failing: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[dict[str, Any]] = field(default_factory=list)


def replay_recent(kb: Any, questions: list[dict]) -> dict[str, Any]:
    """The share of recent real questions ``kb`` answers, and the ones it abstains on, in
    the shape of an evaluation report."""
    failures = []
    for number, item in enumerate(questions, start=1):
        answer = kb.ask(item["question"])
        if answer.abstained:
            failures.append({"id": f"r{number}", "lang": item.get("lang") or answer.lang, "question": item["question"],
                             "problems": [f"abstained (confidence {answer.confidence:.2f})"]})
    share = 1 - len(failures) / len(questions) if questions else None
    return {"overall": {"still_answered": None if share is None else round(share, 4)}, "failures": failures}


def compare_builds(old_kb: Any, new_kb: Any, question_sets: dict[str, list[dict]], tolerance: float) -> list[SetComparison]:
    """Evaluate every set on both knowledge bases (``old_kb`` may be None) and find the drops.
    The set named RECENT_SET holds real questions without gold (``replay_recent``)."""
    comparisons = []
    for name, questions in question_sets.items():
        run = replay_recent if name == RECENT_SET else evaluate
        new = run(new_kb, questions)
        old = run(old_kb, questions) if old_kb is not None else None
        comparison = SetComparison(name=name, questions=len(questions), old=old, new=new)
        if old is not None:
            for key, label in GATED_METRICS:
                before, after = old["overall"].get(key), new["overall"].get(key)
                if before is None or after is None:
                    continue  # the set has no question of that kind
                if before - after > tolerance:
                    comparison.drops.append(f"{label} {before:.3f} -> {after:.3f} ({after - before:+.3f})")
            old_failures = {f["id"]: f for f in old["failures"]}
            new_failures = {f["id"]: f for f in new["failures"]}
            comparison.newly_failing = [f for qid, f in new_failures.items() if qid not in old_failures]
            comparison.fixed = [f for qid, f in old_failures.items() if qid not in new_failures]
        comparisons.append(comparison)
    return comparisons


def format_comparison(comparisons: list[SetComparison], old_build: str | None, new_build: str) -> str:
    """What changed, per set: the gated metrics before and after, then the questions that moved."""
    lines = []
    for c in comparisons:
        lines.append(f"{c.name} ({c.questions} questions): {old_build or 'nothing published'} -> {new_build}")
        lines.append("  | metric | current | candidate | change |")
        lines.append("  |---|---:|---:|---:|")
        for key, label in GATED_METRICS:
            after = c.new["overall"].get(key)
            before = c.old["overall"].get(key) if c.old else None
            if after is None and before is None:
                continue
            change = f"{after - before:+.3f}" if after is not None and before is not None else ""
            lines.append(f"  | {label} | {_cell(before)} | {_cell(after)} | {change} |")
        for title, items, prefix in (("now failing", c.newly_failing, ""), ("now passing", c.fixed, "was: ")):
            if items:
                lines.append(f"  {title} ({len(items)}):")
                for f in items[:SHOWN_QUESTIONS]:
                    lines.append(f"    - {f['id']} [{f['lang']}] {f['question'][:90]}: {prefix}{'; '.join(f['problems'])}")
                if len(items) > SHOWN_QUESTIONS:
                    lines.append(f"    … {len(items) - SHOWN_QUESTIONS} more")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# ---- the whole publish: copy, verify, compare, move CURRENT ------------------------------------


@dataclass
class PublishOutcome:
    build: str
    previous: str | None
    promoted: bool
    comparisons: list[SetComparison]
    notes: list[str] = field(default_factory=list)  # what the operator should know (printed)
    removed: list[str] = field(default_factory=list)  # old builds swept

    @property
    def drops(self) -> list[str]:
        return [f"{c.name}: {d}" for c in self.comparisons for d in c.drops]


def publish(
    source: Path,
    shared: Path,
    *,
    question_sets: dict[str, list[dict]],
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    keep: int = DEFAULT_KEEP,
    query_backend: str = "onnx",
    onnx_quantize: str = "int8",
    threads: int = 1,
    profile: Any = None,
) -> PublishOutcome:
    """Publish the build ``source`` names into ``shared`` and move CURRENT if answers hold up.

    Raises PublishError when the build cannot be published (it does not verify, the copy
    failed, another publish holds the folder). A refusal on quality is not an exception:
    the outcome says ``promoted=False`` with the drops, and CURRENT is unchanged.
    """
    from kb_service.store.index import IndexLockError, IndexWriteError, index_lock

    shared = Path(shared)
    build_dir = resolve_build(source)
    try:
        with index_lock(shared):
            return _publish_locked(build_dir, shared, question_sets=question_sets, tolerance=tolerance, force=force,
                                   keep=keep, options=dict(query_backend=query_backend, onnx_quantize=onnx_quantize,
                                                           threads=threads, profile=profile))
    except IndexLockError:
        raise PublishError(f"another `kb publish` or `kb ingest` holds {shared}: wait for it, then retry") from None
    except IndexWriteError as exc:
        raise PublishError(f"cannot publish into {shared}: {exc}") from None


def _publish_locked(build_dir: Path, shared: Path, *, question_sets: dict[str, list[dict]], tolerance: float,
                    force: bool, keep: int, options: dict[str, Any]) -> PublishOutcome:
    from kb_service.kb import KnowledgeBase, make_query_embedder, onnx_model_dir
    from kb_service.models.onnx import MODEL_FILE
    from kb_service.store.index import IndexLoadError

    copy, copied = copy_build(build_dir, shared)
    manifest = verify_build(copy, verify=False)  # verified by copy_build; this reads the model name
    name = copy.name
    previous = current_name(shared)
    notes = [f"copied {name} to {copy}" if copied else f"{name} is already in {shared}: reusing it"]
    if previous == name:
        return PublishOutcome(name, previous, promoted=False, comparisons=[],
                              notes=notes + [f"{name} is already current: nothing to do"])
    model = manifest["model"]
    if options["query_backend"] == "onnx":
        # Replicas load the query model's export from the shared folder, so they never need
        # torch: copy the source index's export when it has one, else make it there.
        source_root = build_dir.parent.parent
        exported = onnx_model_dir(source_root, model, options["onnx_quantize"])
        if (exported / MODEL_FILE).is_file():
            copy_tree_once(exported, onnx_model_dir(shared, model, options["onnx_quantize"]))
    embedders: dict[str, Any] = {}

    def embedder_for(model_name: str):
        if model_name not in embedders:
            embedders[model_name] = make_query_embedder(shared, model_name, options["query_backend"],
                                                        options["threads"], options["onnx_quantize"])
        return embedders[model_name]

    with build_view(copy) as view:
        new_kb = KnowledgeBase(view, embedder=embedder_for(model), **options).load()
        old_kb = None
        if previous is not None:
            try:
                old_model = verify_build(shared / BUILDS_DIR / previous, verify=False)["model"]
                old_kb = KnowledgeBase(shared, embedder=embedder_for(old_model), **options).load()
            except IndexLoadError as exc:
                notes.append(f"the current build {previous} cannot be loaded ({exc}): nothing to compare with")
        comparisons = compare_builds(old_kb, new_kb, question_sets, tolerance)
    outcome = PublishOutcome(name, previous, promoted=False, comparisons=comparisons, notes=notes)
    if outcome.drops and not force:
        if copied:
            shutil.rmtree(copy, ignore_errors=True)  # refused: leave the folder as it was
            notes.append(f"removed the refused copy {copy}")
        return outcome
    if outcome.drops:
        notes.append("answer quality dropped beyond the tolerance; promoted anyway (--force)")
    set_current(shared, name)
    outcome.promoted = True
    outcome.removed = sweep_builds(shared, keep)
    return outcome
