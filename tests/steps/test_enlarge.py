"""Metadata enlargement: deterministic, covers the encoded metadata, never duplicates.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

from codeclm.steps.signatures import Metadata
from codeclm.steps.enlarge import Enlarge

ENCODED = [
    Metadata(use_case="code generation", skills=["python", "algorithms"]),
    Metadata(use_case="email writing", skills=["persuasion", "polite tone", "brevity"]),
    Metadata(use_case="travel planning", skills=["budgeting"]),
    Metadata(use_case="code generation", skills=["algorithms", "python"]),  # same as the first
]


def test_same_seed_same_pool():
    assert Enlarge(seed=7)(metadata=ENCODED, n=12) == Enlarge(seed=7)(metadata=ENCODED, n=12)


def test_other_seed_other_pool():
    assert Enlarge(seed=1)(metadata=ENCODED, n=12) != Enlarge(seed=2)(metadata=ENCODED, n=12)


def test_encoded_first_then_distinct_mixes():
    pool = Enlarge(seed=0)(metadata=ENCODED, n=12)
    assert len(pool) == 12
    assert pool[:3] == ENCODED[:3]  # duplicates of the encoded set collapse
    assert len({m.key() for m in pool}) == 12


def test_mixes_only_use_known_use_cases_and_skills():
    pool = Enlarge(seed=0)(metadata=ENCODED, n=20)
    use_cases = {m.use_case for m in ENCODED}
    skills = {s for m in ENCODED for s in m.skills}
    for m in pool:
        assert m.use_case in use_cases
        assert set(m.skills) <= skills and 1 <= len(m.skills) <= 3


def test_covers_every_use_case_and_skill():
    pool = Enlarge(seed=3)(metadata=ENCODED, n=10)
    assert {m.use_case for m in pool} == {m.use_case for m in ENCODED}
    assert {s for m in pool for s in m.skills} == {s for m in ENCODED for s in m.skills}


def test_stops_at_the_number_of_possible_combinations():
    tiny = [Metadata(use_case="qa", skills=["facts"])]
    assert Enlarge(seed=0)(metadata=tiny, n=50) == tiny


def test_smaller_n_samples_the_encoded_set():
    pool = Enlarge(seed=0)(metadata=ENCODED, n=2)
    assert len(pool) == 2 and all(m in ENCODED for m in pool)


def test_skills_are_normalized_and_capped():
    m = Metadata(use_case="  Code Debugging. ", skills=[" Python ", "python", "1. unit testing", "a", "b"])
    assert m.use_case == "Code Debugging"
    assert m.skills == ["python", "unit testing", "a"]
