"""benchmarks/filter_set/validity.py reads P(valid) from yes/no top_logprobs, fits its cut within the 10% limit, and
its few-shot examples are no items of the labelled set (issue 20 item 5).
Runs against: no model and no server (hand-written logprobs, the committed template and labels).
"""

import importlib.util
import json
import math


def validity(root):
    spec = importlib.util.spec_from_file_location("validity", root / "benchmarks" / "filter_set" / "validity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def choice(tops: dict[str, float]) -> dict:
    return {"logprobs": {"content": [{"token": "yes", "top_logprobs": [
        {"token": t, "logprob": math.log(p)} for t, p in tops.items()]}]}}


def test_p_valid_sums_the_spellings_and_follows_the_valid_answer(root):
    v = validity(root)
    p, mass = v.p_valid(choice({"yes": 0.5, "Yes": 0.1, " no": 0.2, "maybe": 0.2}), "yes")
    assert math.isclose(p, 0.6 / 0.8) and math.isclose(mass, 0.8)
    assert math.isclose(v.p_valid(choice({"yes": 0.6, "No": 0.2}), "no")[0], 0.2 / 0.8)
    assert v.p_valid(choice({"maybe": 0.9}), "yes")[0] is None


def test_the_cut_drops_at_most_a_tenth_of_the_valid_items(root):
    v = validity(root)
    values = [0.1, 0.2, 0.3, 0.4, 0.5] + [0.15, 0.35] + [0.9] * 18  # 5 invalid; 20 valid, two of them low
    invalid = [True] * 5 + [False] * 20
    rule = v.fit_drop_rule(values, invalid, ("<",))
    assert (rule["caught"], rule["lost"]) == (5, 2) and 0.5 < rule["cut"] < 0.9
    rule = v.fit_drop_rule(values + [0.12], invalid + [False], ("<",))  # a third low valid item: over the limit
    assert rule["lost"] <= 2 and rule["caught"] < 5


def test_the_examples_are_not_items_of_the_labelled_set(root):
    import re

    v = validity(root)
    rows = [json.loads(line) for line in (root / "benchmarks" / "filter_set" / "labels.jsonl").read_text().splitlines()]

    def grams(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}

    items = set().union(*(grams(r["instruction"]) for r in rows))
    for example, _ in v.template().examples:
        assert not grams(example) & items, example  # no 4-word run copied from an item (topic overlap is allowed)
