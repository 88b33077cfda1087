#!/usr/bin/env python3
"""Count a grader's grades of a grading pack: by grade, by set, by language, by kind and by cause.

    python scripts/grading_summary.py GRADES.jsonl KEY.jsonl [--json]

GRADES.jsonl: one `{"item": n, "grade": "A|B|C|D", "cause": "…"}` line per graded item
(the cause is for non-A grades, one of the rubric's causes; "other: a note" is accepted;
a line left with an empty grade, as in the pack's grades-template.jsonl, counts as ungraded).
KEY.jsonl: the key written beside the pack by scripts/grading_pack.py. Needs only the
standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

GRADES = ("A", "B", "C", "D")
CAUSES = ("no option named", "wrong option", "wrongly abstained", "wrong passage",
          "right passage but bad extract", "answered out of scope", "other")
NO_CAUSE = "(no cause given)"


class GradeError(ValueError):
    pass


def _jsonl(path: Path) -> Iterable[tuple[int, Any]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise GradeError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc


def cause_of(raw: Any) -> str | None:
    """The rubric cause a grader wrote ("other: …" counts as other), or None if unknown."""
    text = " ".join(str(raw).split()).lower()
    if text in CAUSES:
        return text
    return "other" if text.startswith("other") else None


def read_grades(path: Path) -> dict[int, dict[str, Any]]:
    grades: dict[int, dict[str, Any]] = {}
    for number, line in _jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(line, dict) or not isinstance(line.get("item"), int):
            raise GradeError(f"{where}: each line needs an integer 'item'")
        grade = str(line.get("grade") or "").strip().upper()
        if not grade:
            continue  # a line of the template not graded yet
        if grade not in GRADES:
            raise GradeError(f"{where}: grade must be one of A, B, C, D, got {line.get('grade')!r}")
        if line["item"] in grades:
            raise GradeError(f"{where}: item {line['item']} is graded twice")
        cause = None
        if grade != "A":
            raw = line.get("cause")
            if raw not in (None, ""):
                cause = cause_of(raw)
                if cause is None:
                    raise GradeError(f"{where}: cause {raw!r} is not one of: {', '.join(CAUSES)}")
        grades[line["item"]] = {"grade": grade, "cause": cause, "note": line.get("cause")}
    return grades


def read_key(path: Path) -> dict[int, dict[str, Any]]:
    key = {}
    for number, line in _jsonl(path):
        if not isinstance(line, dict) or not isinstance(line.get("item"), int):
            raise GradeError(f"{path}:{number}: not a grading-pack key line (no integer 'item')")
        key[line["item"]] = line
    return key


def summarize_grades(grades: dict[int, dict[str, Any]], key: dict[int, dict[str, Any]]) -> dict[str, Any]:
    unknown = sorted(set(grades) - set(key))
    if unknown:
        raise GradeError(f"items {unknown} are graded but not in the key: is it the key of this pack?")

    def by(field: str) -> dict[str, dict[str, int]]:
        table: dict[str, Counter] = {}
        for item, graded in grades.items():
            table.setdefault(str(key[item].get(field, "?")), Counter())[graded["grade"]] += 1
        return {name: {g: counts[g] for g in GRADES} | {"total": sum(counts.values())} for name, counts in sorted(table.items())}

    counts = Counter(g["grade"] for g in grades.values())
    total = len(grades)
    causes = Counter(g["cause"] or NO_CAUSE for g in grades.values() if g["grade"] != "A")
    return {
        "graded": total,
        "ungraded": len(set(key) - set(grades)),
        "grades": {g: counts[g] for g in GRADES},
        "shares": {g: round(counts[g] / total, 4) if total else None for g in GRADES},
        "by_set": by("set"),
        "by_lang": by("lang"),
        "by_kind": by("kind"),
        "by_cause": {c: causes[c] for c in (*CAUSES, NO_CAUSE) if causes[c]},
        "causes_by_grade": {
            g: dict(Counter(x["cause"] or NO_CAUSE for x in grades.values() if x["grade"] == g)) for g in GRADES[1:]
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    total = summary["graded"]
    lines = [f"{total} answers graded" + (f" ({summary['ungraded']} items of the key not graded)" if summary["ungraded"] else ""), ""]
    lines += ["| grade | count | share |", "|---|---|---|"]
    for g in GRADES:
        share = summary["shares"][g]
        lines.append(f"| {g} | {summary['grades'][g]} | {'n/a' if share is None else f'{share:.1%}'} |")
    for title, table in (("set", summary["by_set"]), ("language", summary["by_lang"]), ("kind", summary["by_kind"])):
        lines += ["", f"| {title} | " + " | ".join(GRADES) + " | total | A share |", "|---|" + "---|" * (len(GRADES) + 2)]
        for name, row in table.items():
            lines.append(f"| {name} | " + " | ".join(str(row[g]) for g in GRADES) + f" | {row['total']} | {row['A'] / row['total']:.1%} |")
    if summary["by_cause"]:
        lines += ["", "| cause (non-A) | count | B | C | D |", "|---|---|---|---|---|"]
        for cause, count in summary["by_cause"].items():
            per = [str(summary["causes_by_grade"][g].get(cause, 0)) for g in GRADES[1:]]
            lines.append(f"| {cause} | {count} | " + " | ".join(per) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grades", type=Path, help="the grader's JSONL")
    parser.add_argument("key", type=Path, help="key.jsonl written beside the pack")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    args = parser.parse_args(argv)
    try:
        summary = summarize_grades(read_grades(args.grades), read_key(args.key))
    except (OSError, GradeError) as exc:
        sys.exit(f"error: {exc}")
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


if __name__ == "__main__":
    main()
