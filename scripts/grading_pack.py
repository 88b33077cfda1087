#!/usr/bin/env python3
"""Write a blind grading pack: kb's answers to question sets, for a reader to grade A–D.

    python scripts/grading_pack.py SET.jsonl [SET.jsonl …] --out DIR [--index INDEX]
                                   [--config kb.toml] [--sample N] [--seed S]

DIR/pack.md is what the grader reads: per item a neutral number, the question (or the
user turns of a conversation), the answer text exactly as kb returned it, whether kb
abstained, and its citations (title › heading path, URL, the cited passage). The items are
shuffled across sets, and the pack names no set, no question id, no gold field and nothing
about the code that answered. DIR/key.jsonl maps each item number to its set, id and gold
fields; DIR/run.json records how the pack was made. Keep both away from the grader. The
grader writes one `{"item": n, "grade": "A|B|C|D", "cause": "…"}` line per item (a template
is in DIR/grades-template.jsonl); scripts/grading_summary.py counts them.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb_service.evaluation import converse, is_conversation, load_questions  # noqa: E402
from kb_service.views import answer_view, where  # noqa: E402

GOLD_FIELDS = ("relevant", "approach", "answer_contains", "abstain", "intent")
RUBRIC = """\
Grade each answer against the docs, as the reader of the answer text (and its citations):

- **A** correct and useful: the reader gets the right answer from the answer text; a
  choice question gets the right option, clearly.
- **B** partly useful: right direction or right passage, but the key point is missing or
  hedged, or the reader must open the citation.
- **C** not useful: off-topic passage, or an abstention although the docs answer.
- **D** misleading: states or recommends something wrong, answers confidently what the docs
  don't cover, or glues a label onto an unrelated sentence.

When the docs do not cover the question: A if the answer says so, D if it answers with
something unrelated or wrong. Give every non-A answer one cause: no option named, wrong
option, wrongly abstained, wrong passage, right passage but bad extract, answered out of
scope, other.

Write one line per item: `{"item": 1, "grade": "B", "cause": "right passage but bad extract"}`.
"""


def choose_items(sets: Sequence[tuple[str, list[dict[str, Any]]]], *, sample: int | None, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """All (set id, item) pairs shuffled with ``seed`` (so the order says nothing about the
    set), then the first ``sample`` of them when a sample is asked for."""
    items = [(set_id, item) for set_id, questions in sets for item in questions]
    random.Random(seed).shuffle(items)
    return items[:sample] if sample is not None else items


def answers_for(kb, item: dict[str, Any]) -> list[dict[str, Any]]:
    """One answer view per user turn (a single question has one turn)."""
    if is_conversation(item):
        return [answer_view(a) for a in converse(kb, item["turns"])]
    return [answer_view(kb.ask(item["question"]))]


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def pack_entry(number: int, item: dict[str, Any], answers: list[dict[str, Any]]) -> str:
    lines = [f"## Item {number}", ""]
    if is_conversation(item):
        lines.append("Conversation (grade the answer to the last turn):")
        lines.append("")
        for turn_number, (turn, earlier) in enumerate(zip(item["turns"], answers), start=1):
            lines += [f"**User, turn {turn_number}:**", "", _fenced(turn), ""]
            if turn_number < len(item["turns"]):
                lines += [f"kb's answer to turn {turn_number} (context, not graded):", "", _fenced(earlier["answer"]), ""]
    else:
        lines += ["**Question:**", "", _fenced(item["question"]), ""]
    last = answers[-1]
    lines += ["**Answer:**", "", _fenced(last["answer"]), "",
              f"Abstained (kb said the docs don't cover it): {'yes' if last['abstained'] else 'no'}", ""]
    if last["citations"]:
        lines += ["**Citations:**", ""]
        for citation in last["citations"]:
            lines += [f"[{citation['number']}] {where(citation)}", f"{citation['url']}", "", _fenced(citation["text"]), ""]
    else:
        lines += ["Citations: none", ""]
    return "\n".join(lines)


def key_entry(number: int, set_id: str, item: dict[str, Any]) -> dict[str, Any]:
    entry = {"item": number, "set": set_id, "id": item["id"], "lang": item["lang"],
             "kind": "conversation" if is_conversation(item) else "question"}
    entry.update({name: item[name] for name in GOLD_FIELDS if name in item})
    return entry


def build_pack(kb, chosen: Sequence[tuple[str, dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
    """(pack.md text, key lines) for the chosen items, numbered from 1 in the given order."""
    entries, key = [], []
    for number, (set_id, item) in enumerate(chosen, start=1):
        entries.append(pack_entry(number, item, answers_for(kb, item)))
        key.append(key_entry(number, set_id, item))
    header = f"# Grading pack: {len(entries)} answers\n\n{RUBRIC}\n"
    return header + "\n---\n\n".join(["", *entries]).lstrip("\n"), key


def set_ids(paths: Sequence[Path]) -> list[str]:
    """A set's id is its file name without .jsonl; the path when two sets share a name."""
    stems = [p.name.removesuffix(".jsonl") for p in paths]
    return [stem if stems.count(stem) == 1 else str(p) for stem, p in zip(stems, paths)]


def _commit() -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() or None


def _load_kb(config: Path | None, index: Path | None):
    from kb_service.config import ConfigError, load_settings
    from kb_service.kb import KnowledgeBase
    from kb_service.store.index import IndexLoadError

    try:
        return KnowledgeBase.from_settings(load_settings(config, index=index)).load()
    except (ConfigError, IndexLoadError) as exc:
        sys.exit(f"error: {exc}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="question sets (JSONL, questions and conversations)")
    parser.add_argument("--out", type=Path, required=True, help="folder for pack.md, key.jsonl, run.json")
    parser.add_argument("--index", type=Path, help="index folder (default: the configuration's)")
    parser.add_argument("--config", type=Path, help="configuration file (default: kb.toml or KB_CONFIG)")
    parser.add_argument("--sample", type=int, help="grade only N items, drawn at random across the sets")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle and the sample (default 0)")
    parser.add_argument("--force", action="store_true", help="replace a pack already in --out")
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")
    if (args.out / "pack.md").exists() and not args.force:
        sys.exit(f"error: {args.out / 'pack.md'} exists (a grader may be working on it); use another --out or --force")
    sets = []
    for set_id, path in zip(set_ids(args.sets), args.sets):
        try:
            sets.append((set_id, load_questions(path)))
        except (OSError, ValueError) as exc:
            sys.exit(f"error: {exc}")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    kb = _load_kb(args.config, args.index)
    chosen = choose_items(sets, sample=args.sample, seed=args.seed)
    pack, key = build_pack(kb, chosen)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pack.md").write_text(pack, encoding="utf-8")
    (args.out / "key.jsonl").write_text("".join(json.dumps(k, ensure_ascii=False) + "\n" for k in key), encoding="utf-8")
    (args.out / "grades-template.jsonl").write_text(
        "".join(json.dumps({"item": k["item"], "grade": "", "cause": ""}) + "\n" for k in key), encoding="utf-8"
    )
    run = {"sets": {set_id: str(path) for set_id, path in zip(set_ids(args.sets), args.sets)}, "items": len(key),
           "sample": args.sample, "seed": args.seed, "index": str(getattr(kb, "index_root", "")) or None,
           "commit": _commit()}
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"{len(key)} items: {args.out / 'pack.md'} (for the grader), {args.out / 'key.jsonl'} (not for the grader)")


if __name__ == "__main__":
    main()
