"""`codeclm optimize` on fake LMs: the label-free metric, BootstrapFewShot demos, save/load, run --tuned."""

import json

import dspy
import pytest
from fakes import ScriptedLM, field_value
from pipeline_scripts import default_judge, harder_wins, strong_script

from codeclm import CodecLM, load_config
from codeclm.cli import main
from codeclm.optimize import ContrastMetric, OptimizeError, StepProgram, check_step, optimize
from codeclm.run import run
from codeclm.signatures import Metadata

OVERRIDES = ["num_metadata=2", "instructions_per_metadata=2", "max_iterations=2", "judging.scheme=pairwise-1-10",
             "judging.check.enabled=false", "cache.enabled=false", "seeds.limit=2"]


def target_lm():
    return ScriptedLM(lambda step, m: {"response": "target answer"}, model="fake/target")


def code_is_hard(messages):
    """Gap 7 for code instructions (the target cannot do them), 0 for travel ones."""
    hard = "code generation" in field_value(messages, "instruction")
    strong_first = field_value(messages, "answer_1") == "STRONG answer"
    s, t = (9, 2) if hard else (6, 6)
    return {"score_1": s if strong_first else t, "score_2": t if strong_first else s, "explanation": "ok"}


@pytest.fixture
def config(root, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Write a Python function that checks for palindromes.\nPlan a weekend in Rome on a budget.\n")
    return load_config(root / "programs" / "codeclm.yaml", [*OVERRIDES, f"seeds.path={seeds}"])


def lms(judge=None):
    return {"strong": ScriptedLM(strong_script(judge), model="fake/strong"), "target": target_lm()}


def test_metric_normalizes_the_contrastive_gap_on_the_scheme_scale(config):
    program = CodecLM(config, lms(harder_wins))
    metric = ContrastMetric(program, "decode")
    example = dspy.Example(metadata=Metadata(use_case="x", skills=["y"]), key="k").with_inputs("metadata", "key")
    hard = dspy.Prediction(output=["Do it [harder: add a constraint]", "Also [harder: more]"], error=None)
    easy = dspy.Prediction(output=["Do the basic thing please"], error=None)
    assert metric(example, hard) == pytest.approx(7 / 9)  # harder_wins: gap 7 on the 1-10 scale (gap_max 9)
    assert metric(example, easy) == 0.0  # gap 0; the missing second slot also counts 0
    assert metric(example, dspy.Prediction(output=None, error="decode: no valid answer")) == 0.0
    assert metric.threshold == pytest.approx(3 / 9)  # theta 3 on the same scale
    assert metric(example, hard, trace=[]) is True and metric(example, easy, trace=[]) is False

    respond = ContrastMetric(CodecLM(config, lms(default_judge)), "respond")  # strong 9 vs target 4: gap 5
    ex = dspy.Example(instruction="Explain TCP slow start.", key="r").with_inputs("instruction", "key")
    assert respond(ex, dspy.Prediction(output="STRONG answer", error=None)) == pytest.approx((1 + 5 / 9) / 2)


def test_step_program_keeps_only_the_validated_call_in_the_trace(config):
    answers = iter([{"new_instructions": ["Sure! here you go"]}])

    def script(step, messages):
        return next(answers, None) or strong_script()(step, messages) if step == "decode" else strong_script()(step, messages)

    program = CodecLM(config, {"strong": ScriptedLM(script), "target": target_lm()})
    trace = []
    with dspy.context(trace=trace):
        pred = StepProgram(program.decode)(metadata=Metadata(use_case="travel planning", skills=["planning"]), key="k")
    assert pred.output == ["Task about travel planning number 1", "Task about travel planning number 2"]
    assert len(trace) == 1 and trace[0][0] is program.decode.predict  # the rejected "Sure!" answer is gone


def test_bootstrap_saves_demos_that_load_and_reach_the_run(config, tmp_path):
    out = tmp_path / "tuned.json"
    result = optimize(config, "decode", trainset=3, heldout=2, out=out, lms=lms(code_is_hard))
    demos = json.loads(out.read_text())["decode.predict"]["demos"]
    bootstrapped = [d for d in demos if d.get("augmented")]
    assert bootstrapped and all(d["use_case"] == "code generation" for d in bootstrapped)  # only traces that pass
    assert len(result.before) == len(result.after) == 2

    # The whole program file loads into a fresh program; its decode predictor has the demos.
    fresh = CodecLM(config, lms())
    fresh.load(str(out))
    assert [d.get("new_instructions") for d in fresh.decode.predict.demos if d.get("augmented")] == [d["new_instructions"] for d in bootstrapped]

    # run(..., tuned=...) sends the tuned instructions and demos to the strong LM.
    state = json.loads(out.read_text())
    state["decode.predict"]["signature"]["instructions"] = "TUNED decode instructions"
    out.write_text(json.dumps(state))
    strong = ScriptedLM(strong_script(code_is_hard), model="fake/strong")
    run(config, output=str(tmp_path / "data.jsonl"), lms={"strong": strong, "target": target_lm()}, tuned=str(out))
    messages = next(m for step, m, _ in strong.calls if step == "decode")
    assert "TUNED decode instructions" in messages[0]["content"]
    demo_text = bootstrapped[0]["new_instructions"][0]
    assert any(demo_text in m["content"] for m in messages[1:-1] if m["role"] == "assistant")


def test_unsupported_step_is_a_one_line_error(root, capsys):
    assert main(["optimize", str(root / "programs" / "codeclm.yaml"), "--step", "encode"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps at the terminal width
    assert err == "error: cannot optimize step 'encode' (no label-free metric for metadata); supported: decode, improve, respond"
    with pytest.raises(OptimizeError) as info:
        check_step("judge", load_config(root / "programs" / "codeclm.yaml"))
    assert "\n" not in str(info.value) and "the judge is the metric itself" in str(info.value)


def test_mipro_without_optuna_says_what_to_install(config, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)
    with pytest.raises(OptimizeError, match=r"pip install 'codeclm\[optimize\]'"):
        optimize(config, "decode", optimizer="mipro-light", trainset=2, heldout=1, lms=lms())


class ProposerLM(ScriptedLM):
    """The strong fake, also answering MIPROv2's proposer prompts (every output field: a tuned instruction)."""

    def forward(self, prompt=None, messages=None, **kwargs):
        try:
            return super().forward(prompt=prompt, messages=messages, **kwargs)
        except AssertionError:
            import re

            import litellm
            from fakes import chat_answer

            outputs = messages[0]["content"].split("Your output fields are:", 1)[1].split("All interactions", 1)[0]
            content = chat_answer({name: "Write instructions the weak model fails." for name in re.findall(r"\d+\. `(\w+)`", outputs)})
            return litellm.ModelResponse(model=self.model, choices=[{"index": 0, "message": {"role": "assistant", "content": content},
                                         "finish_reason": "stop"}], usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})


def test_mipro_light_picks_a_proposed_instruction_that_raises_the_metric(config, tmp_path):
    pytest.importorskip("optuna")

    def script(step, messages):
        if step == "decode" and "weak model fails" in messages[0]["content"]:
            return {"new_instructions": [f"Hard task {i} [harder: tuned]" for i in (1, 2)]}
        return strong_script(harder_wins)(step, messages)

    out = tmp_path / "mipro.json"
    result = optimize(config, "decode", optimizer="mipro-light", trainset=4, heldout=2, out=out,
                      lms={"strong": ProposerLM(script, model="fake/strong"), "target": target_lm()})
    assert result.mean(result.before) == 0.0 and result.mean(result.after) == pytest.approx(7 / 9)
    assert "weak model fails" in json.loads(out.read_text())["decode.predict"]["signature"]["instructions"]
