"""Make the filter's labelled set: open-ended instructions from the pipeline's own Encode / Decode / Improve,
each with the strong answer and the target's answer, as a run makes them (issue 20).

Seeds: the `seed` splits of the bundled Self-Instruct and Vicuna sets (never a split `codeclm eval`
scores). Every metadata is decoded into `--per-metadata` instructions (iteration 1); for every second
metadata, Self-Rubrics writes rubrics and Improve applies the first action to its first instruction
(iteration 2). Answers come from the program's own Respond steps (the run's templates, caps, guards and
temperature). No filter signal is computed here: labels are read first, signals after the freeze.

    python benchmarks/filter_set/make_items.py --out benchmarks/filter_set/items.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from codeclm.models.config import load_config
from codeclm.executors import ThreadExecutor
from codeclm.programs.codeclm import instruction_item, metadata_item
from codeclm.seeds.readers import read_seeds
from codeclm.programs.session import open_program

ROOT = Path(__file__).resolve().parents[2]
SEED_SETS = (("benchmark:self_instruct", "instruction"), ("benchmark:vicuna", "text"))


def answer_row(answer) -> dict:
    return {"text": answer.text, "finish_reason": answer.finish_reason, "completion_tokens": answer.completion_tokens,
            "max_tokens": answer.max_tokens, "guard": answer.guard}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/filter_set/items.jsonl"))
    parser.add_argument("--target", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--per-metadata", type=int, default=3)
    parser.add_argument("--improve-every", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit-seeds", type=int, default=0)
    parser.add_argument("--enlarge-to", type=int, default=0, help="metadata enlargement (mix-and-match) up to this many")
    args = parser.parse_args()
    overrides = [f"models.target={{local: {args.target}}}", f"instructions_per_metadata={args.per_metadata}",
                 "judging.check.enabled=false", f"concurrency={args.concurrency}"]
    config = load_config(ROOT / "programs/codeclm.yaml", overrides)
    seeds = [(ref, s) for ref, field in SEED_SETS for s in read_seeds(ref, field=field)]
    if args.limit_seeds:
        seeds = seeds[: args.limit_seeds]
    started = time.time()
    with open_program(config) as session:
        program, run = session.program, ThreadExecutor(args.concurrency)

        def stage(name, fn, items, on_outcome=None):
            outcomes = run.map(name, fn, items, on_outcome=on_outcome)
            failed = [o for o in outcomes if not o.ok]
            print(f"{name}: {len(outcomes) - len(failed)} ok, {len(failed)} failed, {time.time() - started:.0f} s", flush=True)
            for o in failed:
                print(f"  failed: {o.error}", flush=True)
            return [o for o in outcomes if o.ok]

        encoded = stage("encode", lambda rs: program.encode_seed(rs[1]), seeds)
        metas, seen = [], set()
        for o in encoded:
            ref, seed = o.item
            if o.value.key() not in seen:
                seen.add(o.value.key())
                metas.append((metadata_item(o.value, f"encoded:{seed.id}"), ref, seed))
        if args.enlarge_to > len(metas):  # the paper's enlargement: new use case x skills pairs, decoded like the rest
            pool = program.enlarge(metadata=[m[0].metadata for m in metas], n=args.enlarge_to)
            known = {m[0].metadata.key() for m in metas}
            metas += [(metadata_item(m, "enlarged"), "enlarged", None) for m in pool if m.key() not in known]
        decoded = stage("decode", lambda m: program.decode_metadata(m[0]), metas)
        items = []  # (instruction item, iteration, action, seed ref, seed)
        for o in decoded:
            meta, ref, seed = o.item
            for text in o.value:
                items.append((instruction_item(meta, text), 1, None, ref, seed, text))
        respond, models = program.contrastive_filter, program.model_names()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")
        written = []

        def answers(entry):
            item, iteration, action, ref, seed, text = entry
            key = f"{item.id}/{iteration}"
            return respond.respond_strong(instruction=text, key=key), respond.respond_target(instruction=text, key=key)

        def write(o):  # as each item is answered, so reading can start before the last one
            if not o.ok:
                return
            item, iteration, action, ref, seed, text = o.item
            strong, target = o.value
            with out.open("a") as f:
                f.write(json.dumps({
                    "id": f"{item.id}/{iteration}", "seed_source": ref, "seed": seed.text if seed else None, "metadata": item.source.metadata.model_dump(),
                    "metadata_id": item.source.id, "iteration": iteration, "action": action, "instruction": text,
                    "strong": answer_row(strong), "target": answer_row(target), "models": models,
                    "templates": program.templates,
                }) + "\n")
            written.append(o.item)

        stage("answer (iteration 1)", answers, items, on_outcome=write)
        # (metadata item, seed ref, seed, its first instruction) for every `improve_every`-th metadata
        originals = [o for o in decoded if o.item[1] != "enlarged"]  # as before enlargement: the same ones are improved
        to_improve = [(*o.item, o.value[0]) for k, o in enumerate(originals) if k % args.improve_every == 0 and o.value]
        rubrics = stage("rubrics", lambda m: program.write_rubrics(m[0]), to_improve)

        def improve(pair):
            (meta, ref, seed, text), written_rubrics = pair
            first = instruction_item(meta, text)
            action = written_rubrics.action_order(config.seed, first.id)[0]
            return program.improve(instruction=text, metadata=meta.metadata, action=action, key=f"{first.id}/2"), action

        improved = []
        for o in stage("improve", improve, [(r.item, r.value) for r in rubrics]):
            (meta, ref, seed, text), _ = o.item
            text2, action = o.value
            improved.append((instruction_item(meta, text), 2, action, ref, seed, text2))
        stage("answer (iteration 2)", answers, improved, on_outcome=write)
        answered = written
        (out.parent / "DONE").write_text(f"{len(written)} items\n")
    print(f"wrote {len(answered)} items to {out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
