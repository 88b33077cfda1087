#!/usr/bin/env python3
"""Grade two versions of kb blind, side by side: merge two grading packs into one.

    python scripts/grading_compare.py merge PACK_A PACK_B --out DIR [--seed S]
    python scripts/grading_compare.py summary GRADES.jsonl DIR/key.jsonl [--json]

PACK_A and PACK_B are folders written by scripts/grading_pack.py from the same sets with
the same --sample and --seed (so item n is the same question in both), each by another
version of kb (another checkout, another index). The merged DIR/pack.md holds every answer
once: where both versions gave the very same answer (text, abstention, citations) it is one
item graded for both; where they differ, two items. The items are shuffled and renumbered,
so the grader cannot tell which version wrote which answer, nor pair them up by position.
DIR/key.jsonl says, per merged item, which versions it stands for and the gold fields.

`summary` counts the grades per version (A–D and causes), from the grades file the grader
filled in (one `{"item": n, "grade": "A|B|C|D", "cause": "…"}` per line).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from grading_pack import RUBRIC  # noqa: E402
from grading_summary import GradeError, format_summary, read_grades, read_key, summarize_grades  # noqa: E402

_ITEM = re.compile(r"^## Item (\d+)\n", re.M)


def read_pack(folder: Path) -> tuple[dict[int, str], dict[int, dict[str, Any]]]:
    """(item number -> its body without the "## Item n" line, item number -> key line)."""
    text = (folder / "pack.md").read_text(encoding="utf-8")
    bodies: dict[int, str] = {}
    matches = list(_ITEM.finditer(text))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(text)
        body = text[match.end():end].strip()
        bodies[int(match.group(1))] = re.sub(r"\n---\s*$", "", body).strip()
    key = {}
    for line in (folder / "key.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            key[entry["item"]] = entry
    return bodies, key


def merge(pack_a: Path, pack_b: Path, seed: int) -> tuple[str, list[dict[str, Any]]]:
    bodies_a, key_a = read_pack(pack_a)
    bodies_b, key_b = read_pack(pack_b)
    if sorted(bodies_a) != sorted(bodies_b) or any(
            (key_a[n]["set"], key_a[n]["id"]) != (key_b[n]["set"], key_b[n]["id"]) for n in key_a):
        raise ValueError("the packs hold different questions: make both with the same sets, --sample and --seed")
    merged: list[tuple[list[str], int, str]] = []
    for number in sorted(bodies_a):
        if bodies_a[number] == bodies_b[number]:
            merged.append((["A", "B"], number, bodies_a[number]))
        else:
            merged.append((["A"], number, bodies_a[number]))
            merged.append((["B"], number, bodies_b[number]))
    random.Random(seed).shuffle(merged)
    entries, key = [], []
    for new_number, (versions, number, body) in enumerate(merged, start=1):
        entries.append(f"## Item {new_number}\n\n{body}\n")
        gold = {k: v for k, v in key_a[number].items() if k != "item"}
        key.append({"item": new_number, "versions": versions, "pack_item": number, **gold})
    header = f"# Grading pack: {len(entries)} answers\n\n{RUBRIC}\n"
    return header + "\n---\n\n".join(["", *entries]).lstrip("\n"), key


def summary(grades_path: Path, key_path: Path) -> dict[str, Any]:
    """Per version, grading_summary's counts over the items that stand for it."""
    grades, key = read_grades(grades_path), read_key(key_path)
    unknown = sorted(set(grades) - set(key))
    if unknown:
        raise GradeError(f"items {unknown} are graded but not in the key: is it the key of this pack?")
    out: dict[str, Any] = {}
    for version in ("A", "B"):
        items = {n for n, entry in key.items() if version in entry.get("versions", ())}
        out[version] = summarize_grades({n: g for n, g in grades.items() if n in items},
                                        {n: e for n, e in key.items() if n in items})
    out["items"] = len(key)
    out["shared_items"] = sum(1 for e in key.values() if len(e.get("versions", ())) == 2)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    merging = commands.add_parser("merge", help="merge two packs into one blind pack")
    merging.add_argument("pack_a", type=Path)
    merging.add_argument("pack_b", type=Path)
    merging.add_argument("--out", type=Path, required=True)
    merging.add_argument("--seed", type=int, default=0)
    merging.add_argument("--force", action="store_true", help="replace a pack already in --out")
    summing = commands.add_parser("summary", help="count the grades per version")
    summing.add_argument("grades", type=Path)
    summing.add_argument("key", type=Path)
    summing.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            if (args.out / "pack.md").exists() and not args.force:
                sys.exit(f"error: {args.out / 'pack.md'} exists; use another --out or --force")
            pack, key = merge(args.pack_a, args.pack_b, args.seed)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "pack.md").write_text(pack, encoding="utf-8")
            (args.out / "key.jsonl").write_text("".join(json.dumps(k, ensure_ascii=False) + "\n" for k in key),
                                                encoding="utf-8")
            (args.out / "grades-template.jsonl").write_text(
                "".join(json.dumps({"item": k["item"], "grade": "", "cause": ""}) + "\n" for k in key), encoding="utf-8")
            shared = sum(1 for k in key if len(k["versions"]) == 2)
            print(f"{len(key)} items ({shared} answered alike by both): {args.out / 'pack.md'}")
            return
        result = summary(args.grades, args.key)
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for version in ("A", "B"):
        print(f"## version {version}\n")
        print(format_summary(result[version]))
        print()
    print(f"{result['items']} items, {result['shared_items']} answered alike by both versions")


if __name__ == "__main__":
    main()
