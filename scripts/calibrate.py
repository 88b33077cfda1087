"""Fit the answerability model and write it into the profile's calibration.json.

Positives: answerable questions; negatives: out-of-scope ones (abstain: true). Fitted on
question sets kept apart from the ones the answer rules are tuned on (the dev sets in
../shared/eval, eval/questions.jsonl and eval/fresh1*.jsonl are for tuning and checking;
eval/fresh2*.jsonl is never used for anything but the final report):

    python scripts/calibrate.py eval/holdout.jsonl eval/holdout2.jsonl eval/holdout3.jsonl \
        eval/holdout4.jsonl eval/calibration_oos.jsonl

Prints the fit and a reliability table (confidence bucket -> share of answerable questions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb_service.assess.answerability import FEATURES  # noqa: E402
from kb_service.config import load_settings  # noqa: E402
from kb_service.evaluation import load_questions  # noqa: E402
from kb_service.kb import KnowledgeBase  # noqa: E402
from kb_service.profiles import load_profile  # noqa: E402

L2 = 0.05
# Abstain below this confidence. Above 0.5 because a wrong answer behind a chat-bot costs more
# than an honest "not covered".
THRESHOLD = 0.6


def fit_logistic(x: np.ndarray, y: np.ndarray, *, steps: int = 20000, lr: float = 0.1) -> tuple[np.ndarray, float]:
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * (x.T @ (p - y) / len(y) + L2 * w)
        b -= lr * float(np.mean(p - y))
    return w, b


def reliability(p: np.ndarray, y: np.ndarray, edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)) -> list[tuple[str, int, float | None]]:
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = (p >= low) & (p < high)
        rows.append((f"{low:.1f}-{min(high, 1.0):.1f}", int(inside.sum()), float(y[inside].mean()) if inside.any() else None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--write", action="store_true", help="write calibration.json into the profile folder")
    parser.add_argument("--report", action="store_true",
                        help="fit nothing: the reliability of the profile's calibration on these sets, as kb answers")
    args = parser.parse_args()
    settings = load_settings()
    kb = KnowledgeBase.from_settings(settings).load()
    if args.report:
        report(kb, args.sets)
        return
    rows, labels, ids = [], [], []
    for path in args.sets:
        for q in load_questions(Path(path)):
            if "question" not in q:
                continue
            features = kb.evidence(q["question"])
            rows.append([features[name] for name in FEATURES])
            labels.append(0.0 if q.get("abstain") else 1.0)
            ids.append((q["id"], q["question"]))
    x, y = np.array(rows), np.array(labels)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    w, b = fit_logistic((x - mean) / std, y)
    # Fold the standardisation into the weights so the runtime formula is a plain dot product.
    weights = {name: float(w[i] / std[i]) for i, name in enumerate(FEATURES)}
    weights["bias"] = float(b - np.sum(w * mean / std))
    p = 1 / (1 + np.exp(-(x @ np.array([weights[n] for n in FEATURES]) + weights["bias"])))
    predicted = p >= THRESHOLD
    print(f"{len(y)} questions ({int((y == 0).sum())} out of scope); accuracy {np.mean(predicted == (y == 1)):.3f}")
    print(f"false abstentions {int(((y == 1) & ~predicted).sum())}, answered out of scope {int(((y == 0) & predicted).sum())}")
    print("weights:", json.dumps({k: round(v, 3) for k, v in weights.items()}))
    print("| confidence | questions | share answerable |\n|---|---|---|")
    for bucket, count, share in reliability(p, y):
        print(f"| {bucket} | {count} | {'n/a' if share is None else f'{share:.2f}'} |")
    if args.write:
        profile = load_profile(settings.profile)
        if profile is None:
            raise SystemExit("no profile is configured: nothing to write the calibration into")
        folder = ROOT / "kb_service" / "profiles" / profile.name.replace("-", "_")
        out = folder / "calibration.json"
        out.write_text(json.dumps({"features": FEATURES, "weights": weights, "threshold": THRESHOLD,
                                   "fitted_on": list(args.sets), "questions": len(y)}, indent=2) + "\n")
        print(f"wrote {out}")


def report(kb: KnowledgeBase, sets: list[str]) -> None:
    """Confidence bucket -> share of answerable questions, for kb's own answers (the answer-
    type checks included), on sets the calibration was not fitted on."""
    p, y = [], []
    for path in sets:
        for q in load_questions(Path(path)):
            if "question" not in q:
                continue
            p.append(kb.ask(q["question"]).confidence)
            y.append(0.0 if q.get("abstain") else 1.0)
    p_arr, y_arr = np.array(p), np.array(y)
    print(f"{len(y)} questions ({int((y_arr == 0).sum())} out of scope), threshold {kb.profile.calibration['threshold']}")
    print("| confidence | questions | share answerable |\n|---|---|---|")
    for bucket, count, share in reliability(p_arr, y_arr):
        print(f"| {bucket} | {count} | {'n/a' if share is None else f'{share:.2f}'} |")


if __name__ == "__main__":
    main()
