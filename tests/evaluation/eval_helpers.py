"""Fake models for the eval tests: answerers that echo the instruction, and a 1-10 pairwise judge with scripted scores."""

import json

from fakes import ScriptedLM, field_value

from codeclm.evaluation import evaluate

# instruction -> (candidate score, reference score) when the candidate is shown first / second
SCORES = {
    "win both": [(8, 5), (9, 4)],
    "mixed win loss": [(8, 5), (4, 7)],
    "win and tie": [(8, 5), (6, 6)],
    "tie both": [(6, 6), (6, 6)],
    "lose both": [(3, 8), (2, 9)],
}


def answerer(name, fails=()):
    """Answers `name: <instruction>`; cannot answer (every attempt unparseable) the instructions in `fails`."""
    def script(step, messages):
        instruction = field_value(messages, "instruction")
        if instruction in fails:
            raise ValueError(f"{name} cannot answer")
        return {"response": f"{name}: {instruction}"}

    return ScriptedLM(script, model=f"fake/{name}")


def judge_script(step, messages):
    instruction = field_value(messages, "instruction")
    if instruction == "broken judge":
        return "[[ ## score_1 ## ]]\nexcellent\n\n[[ ## completed ## ]]"
    candidate_first = field_value(messages, "answer_1").startswith("candidate")
    cand, ref = SCORES[instruction][0 if candidate_first else 1]
    s1, s2 = (cand, ref) if candidate_first else (ref, cand)
    return {"score_1": s1, "score_2": s2, "explanation": "scripted"}


def fakes(judge_model="fake/judge", candidate_fails=()):
    return {"candidate": answerer("candidate", candidate_fails), "reference": answerer("reference"),
            "judge": ScriptedLM(judge_script, judge_model)}


def write_bench(tmp_path, texts=SCORES):
    path = tmp_path / "bench.jsonl"
    rows = [{"id": f"q{i}", "prompt": text, "category": "math" if i < 2 else "writing"} for i, text in enumerate(texts)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_eval(root, bench, tmp_path, rule=None, lms=None, overrides=(), out="out.jsonl", **options):
    return evaluate(str(bench), "target", "strong", program=root / "programs" / "codeclm.yaml", field="prompt",
                    overrides=["judging.scheme=pairwise-1-10", *overrides], rule=rule, out=tmp_path / out,
                    lms=lms or fakes(), bootstrap=200, **options)
