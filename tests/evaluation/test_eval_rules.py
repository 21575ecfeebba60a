"""Both-orders rules, CRR and the bootstrap interval.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import pytest

from codeclm.evaluation.rules import RULES, bootstrap_ci, crr, item_outcome, order_outcome


@pytest.mark.parametrize(
    "orders, paper, alpagasus",
    [
        (("win", "win"), "win", "win"),
        (("win", "tie"), "tie", "win"),
        (("tie", "win"), "tie", "win"),
        (("tie", "tie"), "tie", "tie"),
        (("win", "loss"), "loss", "tie"),
        (("loss", "win"), "loss", "tie"),
        (("tie", "loss"), "loss", "loss"),
        (("loss", "loss"), "loss", "loss"),
    ],
)
def test_both_order_rules(orders, paper, alpagasus):
    assert item_outcome(orders, "paper") == paper
    assert item_outcome(orders, "alpagasus") == alpagasus


def test_rules_cover_every_pair():
    for table in RULES.values():
        assert len(table) == 6


def test_order_outcome_and_bad_rule():
    assert order_outcome(8, 6) == "win" and order_outcome(6, 6) == "tie" and order_outcome(2, 9) == "loss"
    with pytest.raises(ValueError, match="unknown rule"):
        item_outcome(("win", "win"), "majority")


def test_crr_counts_wins_and_ties():
    assert crr(["win", "tie", "loss", "loss"]) == 0.5
    assert crr([]) is None


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    outcomes = ["win"] * 30 + ["tie"] * 20 + ["loss"] * 50
    first = bootstrap_ci(outcomes, samples=500, seed=3)
    assert first == bootstrap_ci(outcomes, samples=500, seed=3)
    assert first != bootstrap_ci(outcomes, samples=500, seed=4)
    low, high = first
    assert low < 0.5 < high and 0.35 < low and high < 0.65
    assert bootstrap_ci(["win"] * 10) == (1.0, 1.0)
    assert bootstrap_ci([]) is None
