"""Overlap with benchmark items: a shared 8-word run or ROUGE-L > 0.7 flags an instruction; unrelated ones pass.

Runs against: no model and no server (the code's own logic on hand-made inputs); the bundled benchmark files.
"""

from codeclm.evaluation.overlap import OverlapIndex, bundled_benchmarks_index

ITEMS = ["Write a haiku about the autumn leaves falling in the quiet park at dusk.",
         "Explain how a bicycle gear system makes climbing hills easier for riders."]


def test_shared_runs_and_near_duplicates_are_flagged_unrelated_text_is_not():
    index = OverlapIndex(ITEMS, ["a", "b"])
    copied = index.match("Please write a haiku about the autumn leaves falling in the quiet park, thanks!")
    assert copied and copied.item_id == "a" and copied.shared_ngram
    near = index.match("Explain how bicycle gears make climbing hills easier for riders.")
    assert near and near.item_id == "b" and not near.shared_ngram and near.rouge_l > 0.7
    assert index.match("Plan a three-day trip to Lisbon for two students on a budget.") is None
    assert index.match("") is None


def test_the_bundled_benchmarks_flag_their_own_items():
    index = bundled_benchmarks_index()
    assert len(index.items) == 332
    assert index.match(index.items[5]).item_id == index.ids[5]
    assert index.match("Compose a limerick about a cat who learns to fly a small airplane.") is None


ITEM = "Write a haiku about the autumn leaves falling in the quiet park at dusk."
RUN_8 = "the autumn leaves falling in the quiet park"  # 8 words of ITEM in a row
RUN_7 = "the autumn leaves falling in the quiet"  # 7 of them


def test_an_8_word_run_in_an_otherwise_dissimilar_instruction_matches():
    """The 8-word rule at its boundary (break: `NGRAM, ... = 8` raised to 9 or 12 turns this red)."""
    text = f"Draft a municipal budget memo; in one footnote, quote {RUN_8} verbatim, then tabulate expenses by ward."
    match = OverlapIndex([ITEM], ["a"]).match(text)
    assert match is not None and match.item_id == "a" and match.shared_ngram
    assert match.rouge_l < 0.7  # only the 8-word rule can have flagged it


def test_a_7_word_run_in_an_otherwise_dissimilar_instruction_does_not_match():
    """One word short of the rule (break: 8 lowered to 7 or fewer turns this red)."""
    text = f"Draft a municipal budget memo; in one footnote, quote {RUN_7} verbatim, then tabulate expenses by ward."
    assert OverlapIndex([ITEM], ["a"]).match(text) is None
