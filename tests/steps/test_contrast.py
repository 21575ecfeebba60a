"""Contrastive Filtering's decision table (paper Sec. 3.3), exhaustively, without any LLM.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import pytest

from codeclm.steps.contrast import decide


@pytest.mark.parametrize(
    "gap, iteration, expected",
    [
        (3.5, 1, "keep_strong"),
        (9.0, 4, "keep_strong"),
        (-3.5, 1, "keep_target"),
        (-9.0, 4, "keep_target"),
        (3.0, 1, "improve"),  # the threshold itself is "too easy": |G| <= theta
        (-3.0, 1, "improve"),
        (0.0, 3, "improve"),
        (0.0, 4, "drop"),  # at the cap
        (2.9, 4, "drop"),
        (-2.9, 4, "drop"),
    ],
)
def test_decision_table(gap, iteration, expected):
    assert decide(gap, theta=3.0, iteration=iteration, max_iterations=4).action == expected


def test_theta_zero_keeps_every_nonzero_gap():
    assert decide(0.5, 0.0, 1, 4).action == "keep_strong"
    assert decide(-0.5, 0.0, 1, 4).action == "keep_target"
    assert decide(0.0, 0.0, 1, 4).action == "improve"


def test_single_iteration_drops_instead_of_looping():
    assert decide(1.0, 3.0, 1, 1).action == "drop"


def test_reason_names_gap_and_threshold():
    reason = decide(4.25, 3.0, 1, 4).reason
    assert "+4.25" in reason and "3.0" in reason
