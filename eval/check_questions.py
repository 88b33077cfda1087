#!/usr/bin/env python3
"""Check eval/questions.jsonl against the corpus (stdlib only).

Checks: valid JSON per line, unique ids, required fields and types, valid
`approach` values, abstain/relevant consistency, and that every evidence phrase
occurs -- after the normalisation described in /work/shared/eval/README.md --
in the visible text of the gold file of the question's language, inside one
block (paragraph / list item / table row), with all phrases of one gold entry
lying within 2,500 normalised characters of each other.

Usage: python3 check_questions.py [questions.jsonl] [corpus_dir]
"""
import html
import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "questions.jsonl"
CORPUS = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parent.parent / "shared" / "corpus"

APPROACHES = {"journey", "action", "api", "orchestrated"}
LANGS = {"en", "fr"}
ALLOWED_KEYS = {"id", "lang", "question", "turns", "relevant", "approach", "answer_contains", "abstain", "intent"}
# What the question asks for (see eval/README.md, "Intents").
INTENTS = {"choose", "howto", "whatis", "can", "quantity", "smalltalk", "other"}
MAX_CHUNK = 2500

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
QUOTES = {ord(c): "'" for c in "\u2018\u2019\u201a\u201b\u2032"}
QUOTES.update({ord(c): '"' for c in "\u201c\u201d\u201e\u201f\u2033"})
DASHES = {ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"}


def normalise(text):
    """README normalisation."""
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(ZERO_WIDTH).translate(QUOTES).translate(DASHES)
    text = re.sub(r"[*_`]", "", text)
    text = re.sub(r"\s+", " ", text)
    return text.strip().lower()


def render(raw):
    """Approximate the visible text of a page: drop front matter, HTML comments,
    CONTEXTUALHELP blocks, images; unwrap [!DNL]/[!UICONTROL] and links."""
    raw = raw.replace("\r\n", "\n")
    raw = re.sub(r"\A---\n.*?\n---\n", "", raw, flags=re.S)
    raw = re.sub(r"<!--.*?-->", "", raw, flags=re.S)
    lines, skip = [], False
    for line in raw.split("\n"):
        if line.strip().startswith(">[!CONTEXTUALHELP]"):
            skip = True
            continue
        if skip:
            if line.strip().startswith(">"):
                continue
            skip = False
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"\[!(?:DNL|UICONTROL)\s+([^\]]*)\]", r"\1", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)(\{[^}]*\})?", "", text)  # images
    # links (inner text may itself have been unwrapped above)
    for _ in range(2):
        text = re.sub(r"\[([^\[\]]*)\]\([^)]*\)(\{[^}]*\})?", r"\1", text)
    return text


BLOCK_START = re.compile(r"^\s*(?:[*+-]\s|\d+\.\s|\||#|>|\+\+\+|:::|```)")


def blocks(text):
    """Split rendered text into paragraphs / list items / table rows / headings."""
    out, cur = [], []
    for line in text.split("\n"):
        s = line.strip()
        if not s or BLOCK_START.match(line):
            if cur:
                out.append(" ".join(cur))
            cur = [s] if s else []
            if s.startswith("#") or s.startswith("|"):
                out.append(" ".join(cur))
                cur = []
        else:
            cur.append(s)
    if cur:
        out.append(" ".join(cur))
    return [normalise(b) for b in out if b.strip()]


_cache = {}


def load(lang, path):
    key = (lang, path)
    if key not in _cache:
        f = CORPUS / lang / path
        if not f.is_file():
            _cache[key] = None
        else:
            rendered = render(f.read_text(encoding="utf-8"))
            _cache[key] = (blocks(rendered), normalise(rendered))
    return _cache[key]


def near(full, phrases):
    """True if all phrases occur within MAX_CHUNK normalised chars of each other."""
    first = phrases[0]
    for m in re.finditer(re.escape(first), full):
        lo, hi = m.start() - MAX_CHUNK, m.end() + MAX_CHUNK
        window = full[max(0, lo):hi]
        if all(p in window for p in phrases[1:]):
            return True
    return False


def main():
    errors, ids = [], set()
    stats = {"total": 0, "lang": {}, "approach": {}, "abstain": 0, "answer_contains": 0}
    for n, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"line {n}: empty line")
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: invalid JSON: {e}")
            continue
        qid = q.get("id", f"line {n}")
        err = lambda msg: errors.append(f"{qid}: {msg}")
        if not isinstance(q, dict):
            err("not an object")
            continue
        for k in ("id", "lang", "relevant"):
            if k not in q:
                err(f"missing field {k}")
        # A conversation carries its user turns instead of one question; the last turn is
        # the one the gold fields describe.
        if "turns" in q:
            turns = q["turns"]
            if not (isinstance(turns, list) and len(turns) >= 2 and all(isinstance(t, str) and t.strip() for t in turns)):
                err("turns must be a list of at least 2 non-empty strings")
            elif "question" in q:
                err("a conversation has turns, not question")
            else:
                q["question"] = turns[-1]
        elif "question" not in q:
            err("missing field question")
        if "intent" in q and q["intent"] not in INTENTS:
            err(f"bad intent {q['intent']!r}: one of {sorted(INTENTS)}")
        extra = set(q) - ALLOWED_KEYS
        if extra:
            err(f"unknown fields {sorted(extra)}")
        if qid in ids:
            err("duplicate id")
        ids.add(qid)
        if not re.fullmatch(r"[a-z]{1,2}\d{2,3}|[a-z]{1,2}\d{1,2}-\d{2,3}", str(qid)):
            err("id should look like q001, n01, h3-01 f1-001 or f10-001")
        lang = q.get("lang")
        if lang not in LANGS:
            err(f"bad lang {lang!r}")
        if not isinstance(q.get("question"), str) or not q.get("question", "").strip():
            err("empty question")
        if "approach" in q and q["approach"] not in APPROACHES:
            err(f"bad approach {q['approach']!r}")
        if "answer_contains" in q:
            ac = q["answer_contains"]
            if not (isinstance(ac, list) and ac and all(isinstance(s, str) and s.strip() for s in ac)):
                err("answer_contains must be a non-empty list of strings")
            stats["answer_contains"] += 1
        if "abstain" in q and not isinstance(q["abstain"], bool):
            err("abstain must be a boolean")
        rel = q.get("relevant")
        if not isinstance(rel, list):
            err("relevant must be a list")
            rel = []
        abstain = q.get("abstain") is True
        if abstain:
            if rel:
                err("abstain question must have relevant: []")
            if "approach" in q or "answer_contains" in q:
                err("abstain question must not have approach/answer_contains")
        elif not rel:
            err("answerable question without relevant entries")
        for i, r in enumerate(rel):
            where = f"relevant[{i}]"
            if not isinstance(r, dict) or set(r) != {"path", "evidence"}:
                err(f"{where}: must have exactly path and evidence")
                continue
            ev = r["evidence"]
            if not (isinstance(ev, list) and 1 <= len(ev) <= 2 and all(isinstance(e, str) and e.strip() for e in ev)):
                err(f"{where}: evidence must be a list of 1-2 non-empty strings")
                continue
            if lang not in LANGS:
                continue
            doc = load(lang, r["path"])
            if doc is None:
                err(f"{where}: no such file {lang}/{r['path']}")
                continue
            doc_blocks, full = doc
            norm = [normalise(e) for e in ev]
            for raw_e, e in zip(ev, norm):
                if e not in full:
                    err(f"{where}: evidence not found in {lang}/{r['path']}: {raw_e!r}")
                elif not any(e in b for b in doc_blocks):
                    err(f"{where}: evidence spans blocks in {lang}/{r['path']}: {raw_e!r}")
            if len(norm) > 1 and all(e in full for e in norm) and not near(full, norm):
                err(f"{where}: evidence phrases are more than {MAX_CHUNK} chars apart")
        stats["total"] += 1
        stats["lang"][lang] = stats["lang"].get(lang, 0) + 1
        if abstain:
            stats["abstain"] += 1
        if "approach" in q:
            key = f"{lang}:{q['approach']}"
            stats["approach"][key] = stats["approach"].get(key, 0) + 1
    print(json.dumps(stats, ensure_ascii=False, sort_keys=True))
    for e in errors:
        print("ERROR", e)
    print(f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
