"""The three DSPy optimizers `codeclm optimize` offers, configured for label-free, small-budget tuning.

- bootstrap: dspy.BootstrapFewShot(max_bootstrapped_demos=demos, max_labeled_demos=0, max_rounds=1).
  Runs the chain on the training metadata; a run that *passes* the metric (see
  codeclm.optimize.metric) becomes a demo of each tuned step. There are no labeled demos: the
  examples are inputs only. The template's own demos are kept after the bootstrapped ones.
- mipro: dspy.MIPROv2(auto="light") with the strong model as prompt and task model: bootstraps
  demo sets, proposes instructions, searches instruction x demo set with optuna (the
  `optimize` extra). Its choice of demos replaces the template's. MIPROv2 splits the training
  examples itself (80% to validate candidates).
- gepa: dspy.GEPA with the strong model as reflection LM and `gepa_max_metric_calls` as its
  budget: it reads the metric's textual feedback on a minibatch of runs and rewrites the tuned
  steps' instructions (demos stay as they are). Its Pareto validation set is the last third of
  the training examples (at least 1), the rest is for reflection; the held-out split is never
  shown to it. Proposals use DSPy's ChatAdapter (small models follow it better than JSON).
"""

from __future__ import annotations

from typing import Any

import dspy

from codeclm.models.config import ProgramConfig
from codeclm.errors import OptimizeError
from codeclm.optimize.chain import GenerationChain
from codeclm.optimize.metric import OptimizeMetric

OPTIMIZERS = ("bootstrap", "mipro", "gepa")

GEPA_GUIDANCE = (
    "The assistant writes instructions (tasks a user might give an AI assistant), never their answers. "
    "The instructions are training data for a weaker target model: they should belong to the given use case, "
    "need the given skills, be things the target model cannot do well yet, and be answerable in full by a strong model."
)


def compile_chain(name: str, chain: GenerationChain, train: list[dspy.Example], metric: OptimizeMetric, *,
                  strong: Any, config: ProgramConfig) -> GenerationChain:
    """The tuned copy of `chain` (the optimizer never touches `chain` itself)."""
    settings = config.optimize
    if name == "bootstrap":
        optimizer = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=settings.demos, max_labeled_demos=0,
                                          max_rounds=1)
        return optimizer.compile(chain, trainset=train)
    if name == "mipro":
        try:
            import optuna  # noqa: F401
        except ModuleNotFoundError:
            raise OptimizeError("--optimizer mipro needs optuna: pip install 'codeclm[optimize]'") from None
        if len(train) < 2:
            raise OptimizeError(f"--optimizer mipro needs at least 2 training metadata (got {len(train)}): raise --train")
        optimizer = dspy.MIPROv2(metric=metric, prompt_model=strong, task_model=strong, auto="light",
                                 max_bootstrapped_demos=settings.demos, max_labeled_demos=0,
                                 num_threads=config.concurrency, seed=config.seed, verbose=False)
        return optimizer.compile(chain, trainset=train)
    if name == "gepa":
        from dspy.teleprompt.gepa.instruction_proposal import InstructionProposer

        cut = max(1, len(train) // 3) if len(train) > 1 else 0
        reflect, validate = (train[:-cut], train[-cut:]) if cut else (train, train)
        optimizer = dspy.GEPA(
            metric=metric.for_gepa(), max_metric_calls=settings.gepa_max_metric_calls, reflection_lm=strong,
            instruction_proposer=InstructionProposer(additional_instructions=GEPA_GUIDANCE, adapter=dspy.ChatAdapter()),
            reflection_minibatch_size=min(3, len(reflect)), use_merge=False, num_threads=config.concurrency,
            seed=config.seed, warn_on_score_mismatch=False,
        )
        return optimizer.compile(chain, trainset=reflect, valset=validate)
    raise OptimizeError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def put_back(chain: GenerationChain, tuned: GenerationChain, *, keep_template_demos: bool) -> dict[str, dict[str, Any]]:
    """The tuned instructions and demos into the chain's own steps (the program's); returns what changed per step."""
    changes = {}
    tuned_predictors = dict(tuned.named_predictors())
    for name, predictor in chain.named_predictors():
        new = tuned_predictors[name]
        template_demos = list(predictor.demos)
        demos = list(new.demos)
        if keep_template_demos:
            demos += [d for d in template_demos if d not in demos]
        changes[name] = {
            "instructions_changed": new.signature.instructions != predictor.signature.instructions,
            "demos": len(demos), "bootstrapped_demos": sum(1 for d in demos if d.get("augmented")),
        }
        predictor.signature = predictor.signature.with_instructions(new.signature.instructions)
        predictor.demos = demos
    return changes
