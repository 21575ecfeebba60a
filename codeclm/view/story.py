"""One item's whole story for the page: the item as written, plus what the page derives from it.

Derived: the seed's text (from the run's seeds file, for encoded metadata), and for a target-loss
verdict the strong answer cut into its tokens, each with the target's loss and whether it counted
(tokens of words the instruction does not contain: `codeclm.judging.target_loss.new_word_losses`).
Per-token losses are stored in the record when it is judged (`OrderVerdict.tokens`, packed by
`codeclm.judging.token_losses`), so the page needs no model and no call cache.
"""

from __future__ import annotations

from typing import Any

from codeclm.judging.target_loss import new_word_losses
from codeclm.judging.token_losses import unpack
from codeclm.view.load import Run


def story(runs: list[Run], run: int, item: int) -> dict[str, Any]:
    """The item `item` of run `run` (its index in `Run.light`), with the seed, the shaded answer and the same id
    in the other runs."""
    source = runs[run]
    row = source.row(item)
    origin = row.get("metadata_origin") or ""
    seed_id = origin.split(":", 1)[1] if origin.startswith(("encoded:", "seed:")) else None
    others = [{"run": r, "item": found} for r, other in enumerate(runs)
              if r != run and (found := other.find(row.get("id"))) is not None]
    return {
        "run": run, "item": item, "status": "kept" if item < source.kept else row.get("kind"), "row": row,
        "seed": {"id": seed_id, "text": source.seeds.get(seed_id) if seed_id else None,
                 "note": source.seeds_note if seed_id and seed_id not in source.seeds else ""},
        "tokens": shaded_tokens(row),
        "others": others,
    }


def shaded_tokens(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    """[{text, loss, counted}] over the strong answer from a target-loss verdict, or None when the record has
    no stored per-token losses (another scheme, or a record written before they were stored)."""
    answer = row.get("strong_response")
    orders = ((row.get("judge") or {}).get("orders")) or []
    packed = next((o.get("tokens") for o in orders if o.get("tokens")), None)
    if not answer or not packed:
        return None
    try:
        tokens = unpack(packed)
    except ValueError:
        return None
    # Which tokens the verdict counted: new_word_losses returns -logprob for each counted token, so giving it
    # -index as the "logprob" returns the counted tokens' indexes (the judge's own rule, not a copy of it).
    counted = {round(i) for i in new_word_losses(row.get("instruction") or "", answer,
                                                 [(None if loss is None else -float(i), start)
                                                  for i, (loss, start) in enumerate(tokens)])}
    ends = [start for _, start in tokens[1:]] + [len(answer)]
    return [{"text": answer[start:end], "loss": loss, "counted": i in counted}
            for i, ((loss, start), end) in enumerate(zip(tokens, ends))]
