"""The optimize metric's parts, unit by unit, and the whole metric ranking known good and bad instructions.

Runs against: the scripted optimize world in process (tests/optimize/optimize_world.py WorldLM: a fake, not real models).
"""

import dspy
import pytest
from optimize_world import ANSWER_LIKE, BENCHMARK, CUT, EASY, GOOD, OFF_TOPIC, world_lms

from codeclm import CodecLM
from codeclm.errors import ConfigError
from codeclm.evaluation.benchmarks import BenchmarkItem, load_benchmark
from codeclm.optimize import LeakGuard, OptimizeMetric, benchmark_fit, check_validity, contrast_value
from codeclm.optimize.fit import content_words
from codeclm.steps.signatures import Metadata

ITEMS = [BenchmarkItem(r["id"], r["instruction"], "all") for r in BENCHMARK]
HELDOUT = [i for i in ITEMS if i.id in ("sq2", "po3", "tr1")]


def test_contrast_is_half_at_theta_and_gives_no_extra_credit_past_twice_theta():
    assert [contrast_value(g, 1.0, 30.0) for g in (-2.0, 0.0, 0.5, 1.0, 1.5, 2.0, 9.0)] == [0, 0, 0.25, 0.5, 0.75, 1, 1]
    assert contrast_value(3.0, 3.0, 9.0) == 0.5  # pairwise-1-10 at the paper's theta
    assert contrast_value(4.5, 0.0, 9.0) == 0.5  # theta 0: the scheme's whole scale


def test_fit_matches_use_case_and_skills_against_the_benchmark_separately():
    pool = [Metadata(use_case="python programming", skills=["recursion", "unit testing"]),
            Metadata(use_case="database queries", skills=["joins", "aggregation"])]
    exact = benchmark_fit(Metadata(use_case="Python programming", skills=["unit testing", "recursion"]), pool)
    near = benchmark_fit(Metadata(use_case="database query writing", skills=["joins"]), pool)
    mixed = benchmark_fit(Metadata(use_case="database queries", skills=["recursion"]), pool)  # enlargement's mix-and-match
    off = benchmark_fit(Metadata(use_case="sports explanation", skills=["rules knowledge"]), pool)
    assert exact.score == 1.0 and mixed.score == 1.0 and off.score == 0.0
    assert near.score == pytest.approx((2 / 3 + 1) / 2) and near.use_case == "database queries" and near.skills == ("joins",)
    assert benchmark_fit(pool[0], []).score == 0.0
    assert content_words("Writing SQL queries for the skills") == {"writing", "sql", "query", "skill"}


@pytest.mark.parametrize("text, siblings, demos, expected", [
    ("Write a limerick about a cat who learns SQL joins.", {}, [], (True, True, None)),
    ("Sure! Here is a limerick about a cat.", {}, [], (False, True, None)),
    ("Write a haiku.", {}, [], (True, False, None)),
    ("Write a limerick about a cat who learns SQL joins today.",
     {"instruction 2": "Write a limerick about a cat who learns SQL joins."}, [], (True, True, "instruction 2")),
    ("Plan a three-day trip to Lisbon for two students with a total budget of 400 euros.", {},
     ["Plan a three-day trip to Lisbon for two students with a total budget of 400 euros, listing daily costs."],
     (True, True, "a demo")),
])
def test_validity_checks_instruction_length_and_near_duplicates(text, siblings, demos, expected):
    validity = check_validity(text, siblings, demos, min_words=4, max_words=40)
    assert (validity.is_instruction, validity.length_ok, validity.duplicate_of) == expected
    assert validity.score == pytest.approx(sum([expected[0], expected[1], expected[2] is None]) / 3)


def test_leak_guard_names_held_out_and_test_items():
    _, vicuna = load_benchmark("vicuna")
    guard = LeakGuard(HELDOUT, {"vicuna": vicuna[:5]})
    copied = guard.check("Please: " + HELDOUT[0].instruction)
    assert copied.source == "held-out" and copied.item_id == "sq2"
    assert guard.check(vicuna[2].instruction).source == "test:vicuna"
    assert guard.check("Write a haiku about a lighthouse keeper's cat.") is None
    assert "sq2" in copied.describe() and HELDOUT[0].instruction not in copied.describe()  # id, never the text


@pytest.fixture
def metric(world_config):
    def make(*overrides):
        config = world_config(*overrides)
        program = CodecLM(config, world_lms())
        pool = [program.encode(instruction=i.instruction, key=i.id) for i in ITEMS if i not in HELDOUT]
        return OptimizeMetric(program, pool=pool, guard=LeakGuard(HELDOUT, {}), settings=config.optimize)

    return make


def score(metric, text):
    return metric.assess_one(text, {}, [])


def test_metric_ranks_known_good_and_bad_instructions(metric):
    m = metric()
    good, easy, off, answer_like, cut, copy = (score(m, t) for t in (GOOD, EASY, OFF_TOPIC, ANSWER_LIKE, CUT, HELDOUT[1].instruction))
    assert good.kept and not easy.kept and good.fit > off.fit  # the target fails GOOD only; OFF_TOPIC is off the benchmark
    assert good.score > easy.score > off.score > answer_like.score > cut.score == copy.score == 0.0
    assert cut.guard == "cut_off" and copy.leak.item_id == "po3"
    assert answer_like.contrast == 0.0 and answer_like.score == pytest.approx(0.2 * 2 / 3)  # validity only, no answers made
    assert m.flagged == [{"phase": "optimize", "example": None, "instruction": HELDOUT[1].instruction, "source": "held-out",
                          "item_id": "po3", "rouge_l": 1.0, "shared_ngram": True}]


def test_an_example_scores_the_mean_over_its_slots_and_passes_only_when_every_instruction_would_be_kept(metric):
    m = metric()
    example = dspy.Example(metadata=Metadata(use_case="database queries", skills=["joins"]), key="k").with_inputs("metadata", "key")
    second = "Prove that your sql migration keeps every foreign key valid when rows arrive out of order."
    both = dspy.Prediction(instructions=[GOOD, second], errors=[], demo_instructions=[])
    one = dspy.Prediction(instructions=[GOOD], errors=["decode: no valid answer"], demo_instructions=[])
    mixed = dspy.Prediction(instructions=[GOOD, EASY], errors=[], demo_instructions=[])
    assert m(example, one) == pytest.approx(score(m, GOOD).score / 2)  # the missing slot counts 0
    assert m(example, both, trace=[]) is True
    assert m(example, one, trace=[]) is False and m(example, mixed, trace=[]) is False
    copies_demo = dspy.Prediction(instructions=[GOOD, second], errors=[], demo_instructions=[second])
    assert m(example, copies_demo, trace=[]) is False  # a copied demo is not a new instruction


def test_gepa_feedback_says_why_each_instruction_scored_low(metric):
    m = metric()
    example = dspy.Example(metadata=Metadata(use_case="database queries", skills=["joins"]), key="k").with_inputs("metadata", "key")
    pred = dspy.Prediction(instructions=[EASY, CUT], errors=[], demo_instructions=[])
    out = m.for_gepa()(example, pred, None, "decode.predict", None)
    assert out.score == pytest.approx(m(example, pred))
    lines = out.feedback.splitlines()
    assert "too easy for the target" in lines[1] and "0.20 nats/token" in lines[1] and "the closest in the benchmark: use case 'database queries'" in lines[1]
    assert "cut off at the token cap" in lines[2] and lines[2].startswith("Instruction 2 scored 0.00")
    leak = m.for_gepa()(example, dspy.Prediction(instructions=[HELDOUT[2].instruction], errors=[], demo_instructions=[]))
    assert "held-out benchmark item tr1" in leak.feedback and HELDOUT[2].instruction not in leak.feedback
    assert "1 slot(s) without an instruction scored 0" in leak.feedback


def test_weights_from_the_yaml_change_what_counts(metric):
    only_fit = metric("optimize.weights={contrast: 0, fit: 1, validity: 0}")
    strong = only_fit.program.contrastive_filter.respond_strong.lm
    cut = score(only_fit, CUT)
    assert cut.score == cut.fit > 0  # no answers made: the guard gate goes with the contrast part
    assert "respond" not in strong.steps()
    with pytest.raises(ConfigError, match=r"optimize\.weights: at least one weight must be > 0"):
        metric("optimize.weights={contrast: 0, fit: 0, validity: 0}")
