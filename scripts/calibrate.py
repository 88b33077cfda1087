"""Fit the answer-confidence model on our own questions and write kb_service/compose/calibration.json.

Positives: answerable questions; negatives: out-of-scope ones (abstain: true). The dev set
in ../shared/eval is deliberately not used here: it is for checking, not for fitting.

    python scripts/calibrate.py eval/questions.jsonl eval/calibration_oos.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb_service.compose.answer import FEATURES, features_of  # noqa: E402
from kb_service.config import load_settings  # noqa: E402
from kb_service.evaluation import load_questions  # noqa: E402
from kb_service.kb import KnowledgeBase  # noqa: E402

L2 = 0.05
# Abstain below this confidence. Above 0.5 because a wrong answer behind a chat-bot costs more
# than an honest "not covered": 0.6 kept false abstentions under 5 % on our questions.
THRESHOLD = 0.6


def fit_logistic(x: np.ndarray, y: np.ndarray, *, steps: int = 20000, lr: float = 0.1) -> tuple[np.ndarray, float]:
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        grad_w = x.T @ (p - y) / len(y) + L2 * w
        grad_b = float(np.mean(p - y))
        w -= lr * grad_w
        b -= lr * grad_b
    return w, b


def main(paths: list[str]) -> None:
    settings = load_settings()
    kb = KnowledgeBase.from_settings(settings).load()
    rows, labels, ids = [], [], []
    for path in paths:
        for q in load_questions(Path(path)):
            result = kb.retrieve_for(q["question"])
            rows.append([features_of(result)[name] for name in FEATURES])
            labels.append(0.0 if q.get("abstain") else 1.0)
            ids.append((q["id"], q["question"]))
    x = np.array(rows)
    y = np.array(labels)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    w, b = fit_logistic((x - mean) / std, y)
    # Fold the standardisation into the weights so the runtime formula is a plain dot product.
    weights = {name: float(w[i] / std[i]) for i, name in enumerate(FEATURES)}
    weights["bias"] = float(b - np.sum(w * mean / std))
    p = 1 / (1 + np.exp(-(x @ np.array([weights[n] for n in FEATURES]) + weights["bias"])))
    predicted = p >= THRESHOLD
    print(f"{len(y)} questions ({int((y == 0).sum())} out of scope); accuracy {np.mean(predicted == (y == 1)):.3f}")
    print(f"false abstentions {int(((y == 1) & ~predicted).sum())}, wrong answers to out-of-scope {int(((y == 0) & predicted).sum())}")
    for (qid, text), prob, label in zip(ids, p, y):
        if (prob >= THRESHOLD) != (label == 1):
            print(f"  {qid} p={prob:.2f} label={int(label)} {text}")
    out = ROOT / "kb_service" / "compose" / "calibration.json"
    out.write_text(json.dumps({"features": FEATURES, "weights": weights, "threshold": THRESHOLD,
                               "fitted_on": [str(p) for p in paths], "questions": len(y)}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
