"""Evaluation metrics, on hand-made rankings (semantics of ../shared/eval/README.md)."""

import json

import pytest

from kb_service.evaluation import approach_named_first, evaluate, is_relevant, judge, load_questions, ndcg, normalize, reciprocal_rank, summarize


def test_normalisation_follows_the_eval_readme():
    assert normalize("Temps d&#39;attente\u200b **gras** `code` “quoted” – dash") == "temps d'attente gras code \"quoted\" - dash"


@pytest.mark.parametrize(
    "answer, approach",
    [
        ("Journeys — real-time trigger [1]", "journey"),
        ("Recommended: Orchestrated Campaign — multi-entity", "orchestrated"),
        ("Use an API-triggered campaign, not a journey", "api"),
        ("Adobe Journey Optimizer offers an action campaign", "action"),
        ("Recommandé : Campagne déclenchée par l’API — …", "api"),
        ("Parcours — Déclencheur en temps réel", "journey"),
        ("Nothing named here", None),
    ],
)
def test_the_approach_named_first(answer, approach):
    assert approach_named_first(answer) == approach


def hit(text, lang="en", path="help/using/start/journeys-vs-campaigns.md"):
    return {"text": text, "lang": lang, "path": path, "anchor": "a", "kind": "paragraph"}


QUESTION = {"id": "x", "lang": "en", "question": "q", "relevant": [{"path": "help/using/start/journeys-vs-campaigns.md", "evidence": ["Cart abandonment"]}]}


def test_relevance_needs_language_path_evidence_and_a_passage_not_a_page():
    assert is_relevant(hit("**Cart** abandonment with reminders"), QUESTION)
    assert not is_relevant(hit("Cart abandonment", lang="fr"), QUESTION)
    assert not is_relevant(hit("Cart abandonment", path="help/using/other.md"), QUESTION)
    assert not is_relevant(hit("Cart abandonment " + "x" * 2600), QUESTION)


def test_rank_metrics():
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False] * 12) == 0.0
    assert ndcg([True, False]) == 1.0
    assert ndcg([False, True]) == pytest.approx(1 / 1.5849625, rel=1e-6)


def test_judging_and_summary():
    answerable = judge(dict(QUESTION, approach="journey"), [hit("nope"), hit("Cart abandonment")], {"answer": "Journeys — x", "abstained": False, "confidence": 0.9})
    oos = judge({"id": "o", "lang": "en", "question": "?", "relevant": [], "abstain": True}, [], {"answer": "x", "abstained": False, "confidence": 0.7})
    summary = summarize([answerable, oos])
    assert summary["recall@1"] == 0.0 and summary["recall@5"] == 1.0 and summary["mrr@10"] == 0.5
    assert summary["approach_accuracy"] == 1.0
    assert summary["abstention_accuracy"] == 0.0 and summary["false_abstention_rate"] == 0.0
    assert oos.failures == ["answered an out-of-scope question"]


def test_question_files_with_bad_lines_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "a", "lang": "en"}) + "\n{not json\n")
    with pytest.raises(ValueError, match="q.jsonl:2"):
        load_questions(path)


# ---- conversations, intents, held-out sets -------------------------------------------------

from kb_service.evaluation import (  # noqa: E402
    format_report,
    judge_conversation,
    lists_failures_by_default,
    predicted_intent,
    summarize_conversations,
    summarize_intents,
    without_failures,
)


def answer(text="Journeys — x", abstained=False, citations=()):
    return {"answer": text, "abstained": abstained, "confidence": 0.8, "citations": list(citations)}


CONVERSATION = {"id": "c", "lang": "en", "turns": ["first", "and then?"], "relevant": QUESTION["relevant"]}


def test_question_files_may_mix_questions_and_conversations(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"question": "a", "lang": "en"}) + "\n\n" + json.dumps(dict(CONVERSATION, intent="choose")) + "\n")
    single, conversation = load_questions(path)
    assert single["id"] == "line1" and conversation["turns"] == ["first", "and then?"]


@pytest.mark.parametrize(
    "line, problem",
    [
        ({"lang": "en"}, "needs 'question' .* or 'turns'"),
        ({"lang": "en", "question": "a", "turns": ["b"]}, "not both"),
        ({"lang": "en", "turns": "just one string"}, "'turns' must be a list"),
        ({"lang": "en", "turns": ["ok", " "]}, "'turns' must be a list of non-empty strings"),
        ({"question": "a"}, "needs 'lang'"),
        ({"lang": "en", "question": "a", "intent": "compare"}, "'intent' must be one of choose, howto"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_a_line_of_another_shape_is_refused_naming_the_line(tmp_path, line, problem):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "fine", "lang": "en"}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=f"q.jsonl:2: .*{problem}"):
        load_questions(path)


def test_a_conversation_is_judged_on_its_last_answers_citations():
    cited_second = judge_conversation(CONVERSATION, [answer("earlier"), answer(citations=[hit("nope"), hit("cart abandonment")])])
    assert cited_second.labels == [False, True] and cited_second.failures == [] and cited_second.earlier == ["earlier"]
    uncited = judge_conversation(dict(CONVERSATION, approach="action"), [answer(), answer(abstained=True, citations=[hit("nope")])])
    assert uncited.failures == ["abstained (confidence 0.80)", "last answer cites no relevant passage", "approach 'journey', expected 'action'"]
    oos = judge_conversation(dict(CONVERSATION, relevant=[], abstain=True), [answer(), answer(abstained=True)])
    summary = summarize_conversations([cited_second, uncited, oos])
    assert summary["conversations"] == 3 and summary["answerable"] == 2 and summary["out_of_scope"] == 1
    assert summary["cites_relevant_first"] == 0.0 and summary["cites_relevant_any"] == 0.5
    assert summary["approach_accuracy"] == 0.0 and summary["answer_contains_accuracy"] is None
    assert summary["abstention_accuracy"] == 1.0 and summary["false_abstention_rate"] == 0.5


def test_intent_accuracy_and_confusion():
    summary = summarize_intents([("choose", "choose"), ("choose", "howto"), ("howto", "howto"), ("can", "choose")])
    assert summary["accuracy"] == 0.5 and summary["labelled"] == 4
    assert summary["confusion"] == {"can": {"choose": 1}, "choose": {"choose": 1, "howto": 1}, "howto": {"howto": 1}}
    missing = summarize_intents([("choose", None)], available=False)
    assert missing["accuracy"] is None and missing["confusion"] == {} and missing["labelled"] == 1


def test_the_intent_is_asked_of_the_last_turn_with_the_earlier_ones_as_history():
    import enum
    from types import SimpleNamespace

    class Intent(str, enum.Enum):
        HOWTO = "howto"

    seen = []

    class Understanding:  # stands in for a kb that has `understand`; only the call is under test
        def understand(self, question, history=()):
            seen.append((question, tuple(history)))
            return SimpleNamespace(intent=Intent.HOWTO)

    assert predicted_intent(Understanding(), CONVERSATION) == "howto"
    assert predicted_intent(object(), CONVERSATION) is None
    assert seen == [("and then?", ("first",))]


def test_held_out_sets_list_no_failures_by_default():
    assert not lists_failures_by_default("eval/fresh2-conversations.jsonl")
    assert not lists_failures_by_default("eval/fresh3-plus.jsonl")
    assert lists_failures_by_default("eval/fresh1.jsonl")
    single = judge(QUESTION, [hit("nope")], answer())
    conversation = judge_conversation(CONVERSATION, [answer(), answer()])
    report = {
        "overall": summarize([single]), "by_lang": {"en": summarize([single])},
        "failures": [{"id": "x", "lang": "en", "question": "q", "problems": single.failures, "answer": "a", "top": []}],
        "conversations": {"overall": summarize_conversations([conversation]), "by_lang": {"en": summarize_conversations([conversation])},
                          "failures": [{"id": "c", "lang": "en", "turns": ["first", "and then?"], "problems": conversation.failures, "answer": "a", "cited": []}]},
        "intent": summarize_intents([("choose", "howto")]),
    }
    listed = format_report(report, "set.jsonl")
    assert "- x [en] q" in listed and "- c [en] first / and then?" in listed
    assert "Conversations" in listed and "| choose | 1 |" in listed and "Intent accuracy: 0.000 over 1 labelled" in listed
    hidden = without_failures(report)
    text = format_report(hidden)
    assert hidden["failures"] is None and hidden["conversations"]["failures_hidden"] == 1
    assert "- x [en]" not in text and "- c [en]" not in text and "Failures: 1, not listed" in text
    json.dumps(hidden)


# ---- end to end on the session index -------------------------------------------------------

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingKB:
    """The real KnowledgeBase, with the messages of every chat call written down (only the
    recording is added; every answer comes from the real index and model)."""

    def __init__(self, kb):
        self._kb, self.chats = kb, []

    def chat(self, messages, **kwargs):
        self.chats.append([dict(m) for m in messages])
        return self._kb.chat(messages, **kwargs)

    def __getattr__(self, name):
        return getattr(self._kb, name)


TINY_SET = [
    {"id": "t1", "lang": "en", "question": "which approach for cart abandonment?", "relevant": [{"path": "help/using/start/journeys-vs-campaigns.md", "evidence": ["Cart abandonment"]}], "approach": "journey", "intent": "choose"},
    {"id": "t2", "lang": "en", "turns": ["How do I stop a journey?", "if I only block new entries, do the people already inside still get the rest of the emails?"],
     "relevant": [{"path": "help/using/building-journeys/journey-faq.md", "evidence": ["allowing existing profiles to complete their journey"]}], "intent": "can"},
    {"id": "t3", "lang": "en", "turns": ["what's a good recipe for banana bread?", "and how long in the oven?"], "relevant": [], "abstain": True, "intent": "other"},
]


def test_kb_eval_runs_conversations_turn_by_turn_with_its_own_answers(corpus_kb, tmp_path):
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in TINY_SET))
    kb = RecordingKB(corpus_kb)
    report = evaluate(kb, load_questions(path))
    # each turn is sent with the user turns so far and kb's own earlier answers between them
    first, second = kb.chats[0], kb.chats[1]
    assert first == [{"role": "user", "content": "How do I stop a journey?"}]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == corpus_kb.chat(first).answer and second[2]["content"] == TINY_SET[1]["turns"][1]
    assert len(kb.chats) == 4
    assert report["overall"]["questions"] == 1 and report["overall"]["recall@5"] == 1.0
    conversations = report["conversations"]["overall"]
    assert conversations["conversations"] == 2 and conversations["answerable"] == 1 and conversations["out_of_scope"] == 1
    assert conversations["cites_relevant_any"] in (0.0, 1.0) and conversations["abstention_accuracy"] in (0.0, 1.0)
    assert report["intent"]["labelled"] == 3
    assert (report["intent"]["accuracy"] is None) == (getattr(corpus_kb, "understand", None) is None)
    text = format_report(report, "tiny.jsonl")
    assert "Conversations (the answer to the last turn" in text and "| Last answer cites a relevant passage |" in text
    json.dumps(report)


def test_a_grading_pack_is_blind_and_its_key_is_separate(corpus_kb):
    pack_script = script("grading_pack")
    chosen = pack_script.choose_items([("tiny", TINY_SET[:2])], sample=None, seed=3)
    pack, key = pack_script.build_pack(corpus_kb, chosen)
    assert [k["item"] for k in key] == [1, 2] and {k["id"] for k in key} == {"t1", "t2"}
    assert {k["kind"] for k in key} == {"question", "conversation"} and all(k["set"] == "tiny" for k in key)
    assert key[[k["id"] for k in key].index("t1")]["approach"] == "journey"
    for secret in ('"t1"', '"t2"', "tiny", '"evidence"', '"approach"', '"choose"', "confidence"):
        assert secret not in pack
    answer = corpus_kb.ask(TINY_SET[0]["question"])
    assert answer.answer in pack  # exactly as kb returned it
    assert "https://experienceleague.adobe.com/" in pack and "## Item 1" in pack and "## Item 2" in pack
    assert "User, turn 2" in pack and "Abstained (kb said the docs don't cover it): no" in pack


def test_a_grading_summary_counts_by_grade_set_language_and_cause(tmp_path):
    summary_script = script("grading_summary")
    key = tmp_path / "key.jsonl"
    key.write_text("".join(json.dumps(k) + "\n" for k in [
        {"item": 1, "set": "s1", "lang": "en", "kind": "question"},
        {"item": 2, "set": "s1", "lang": "fr", "kind": "question"},
        {"item": 3, "set": "s2", "lang": "en", "kind": "conversation"},
        {"item": 4, "set": "s2", "lang": "en", "kind": "question"},
    ]))
    grades = tmp_path / "grades.jsonl"
    grades.write_text("\n".join(json.dumps(g) for g in [
        {"item": 1, "grade": "A"}, {"item": 2, "grade": "d", "cause": "Wrong option"},
        {"item": 3, "grade": "B", "cause": "other: hedged"},
    ]))
    summary = summary_script.summarize_grades(summary_script.read_grades(grades), summary_script.read_key(key))
    assert summary["graded"] == 3 and summary["ungraded"] == 1
    assert summary["grades"] == {"A": 1, "B": 1, "C": 0, "D": 1}
    assert summary["by_set"]["s1"] == {"A": 1, "B": 0, "C": 0, "D": 1, "total": 2}
    assert summary["by_lang"]["fr"]["D"] == 1 and summary["by_kind"]["conversation"]["B"] == 1
    assert summary["by_cause"] == {"wrong option": 1, "other": 1}
    assert "| s2 | 0 | 1 | 0 | 0 | 1 | 0.0% |" in summary_script.format_summary(summary)
    grades.write_text(json.dumps({"item": 1, "grade": "B", "cause": "too long"}) + "\n")
    with pytest.raises(summary_script.GradeError, match="grades.jsonl:1: cause 'too long' is not one of"):
        summary_script.read_grades(grades)
    grades.write_text(json.dumps({"item": 9, "grade": "A"}) + "\n")
    with pytest.raises(summary_script.GradeError, match=r"items \[9\] are graded but not in the key"):
        summary_script.summarize_grades(summary_script.read_grades(grades), summary_script.read_key(key))


def test_kb_eval_reports_several_files_and_hides_a_held_out_sets_failures(corpus_index_dir, tmp_path):
    import os
    import subprocess
    import sys

    def kb_eval(*args):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "KB_INDEX": str(corpus_index_dir)}
        done = subprocess.run([sys.executable, "-m", "kb_service.cli", "eval", *args], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # an answerable conversation whose gold no passage can meet, so that it always fails
    failing = dict(TINY_SET[1], relevant=[{"path": "nowhere.md", "evidence": ["never"]}])
    held_out, visible = tmp_path / "fresh2-copy.jsonl", tmp_path / "visible.jsonl"
    for path in (held_out, visible):
        path.write_text(json.dumps(TINY_SET[0]) + "\n" + json.dumps(failing) + "\n")
    both = json.loads(kb_eval("--json", str(held_out), str(visible)))["files"]
    assert both[str(held_out)]["conversations"]["failures"] is None and both[str(held_out)]["conversations"]["failures_hidden"] == 1
    assert [f["id"] for f in both[str(visible)]["conversations"]["failures"]] == ["t2"]
    assert "- t2 [en]" in kb_eval("--failures", str(held_out))
    text = kb_eval("--no-failures", str(visible))
    assert "- t2 [en]" not in text and "Failures: 1, not listed" in text
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"lang": "en", "prompt": "?"}) + "\n")
    refused = subprocess.run([sys.executable, "-m", "kb_service.cli", "eval", str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "bad.jsonl:1: each line needs 'question'" in refused.stderr and "Traceback" not in refused.stderr


def test_two_packs_merge_blind_and_identical_answers_are_graded_once(tmp_path):
    compare = script("grading_compare")

    def pack(folder, answers):
        folder.mkdir()
        entries = [f"## Item {n}\n\n**Question:**\n\nq{n}\n\n**Answer:**\n\n{a}\n" for n, a in enumerate(answers, start=1)]
        (folder / "pack.md").write_text("# Grading pack\n\n" + "\n---\n\n".join(entries))
        (folder / "key.jsonl").write_text("".join(
            json.dumps({"item": n, "set": "s", "id": f"q{n}", "lang": "en", "kind": "question"}) + "\n"
            for n in range(1, len(answers) + 1)))
        return folder

    a = pack(tmp_path / "a", ["same answer", "old answer"])
    b = pack(tmp_path / "b", ["same answer", "new answer"])
    text, key = compare.merge(a, b, seed=1)
    assert len(key) == 3 and sorted(map(tuple, (k["versions"] for k in key))) == [("A",), ("A", "B"), ("B",)]
    assert text.count("same answer") == 1 and "old answer" in text and "new answer" in text
    assert '"versions"' not in text and "version" not in text.lower().replace("versions", "")
    out = tmp_path / "m"
    out.mkdir()
    (out / "key.jsonl").write_text("".join(json.dumps(k) + "\n" for k in key))
    old_item = next(k["item"] for k in key if k["versions"] == ["A"])
    (out / "grades.jsonl").write_text("".join(
        json.dumps({"item": k["item"], "grade": "D" if k["item"] == old_item else "A", "cause": "wrong option"}) + "\n"
        for k in key))
    result = compare.summary(out / "grades.jsonl", out / "key.jsonl")
    assert result["A"]["grades"] == {"A": 1, "B": 0, "C": 0, "D": 1} and result["B"]["grades"]["A"] == 2
    assert result["shared_items"] == 1
    c = pack(tmp_path / "c", ["other question set"])
    with pytest.raises(ValueError, match="different questions"):
        compare.merge(a, c, seed=1)
