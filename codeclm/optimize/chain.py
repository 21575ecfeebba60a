"""The generation chain: the dspy.Module an optimizer tunes, metadata -> instructions.

Decode writes `instructions_per_metadata` instructions for a metadata. When Improve (or
Self-Rubrics) is tuned, the chain goes on as iteration 2 of a run does: Self-Rubrics writes
the metadata's actions and Improve applies each instruction's first action, and the improved
instructions are what the metric scores. The tuned steps are this module's submodules under
the program's own names (`decode.predict`, `improve.predict`, ...), so a tuned predictor goes
back to its step by name; the chain's other steps run frozen, hidden from optimizers.

Steps are tuned jointly, in one chain under one metric: Improve works on Decode's output, so
tuning one after the other would tune the second for instructions the first no longer writes.
"""

from __future__ import annotations

import copy
from typing import Any

import dspy

from codeclm.errors import EndpointError, StepError
from codeclm.steps.signatures import Metadata

CHAIN = ("decode", "rubrics", "improve")


class _Frozen:
    """Steps the chain runs but does not tune: not a dspy.Module attribute, so optimizers do not see them."""

    def __init__(self, steps: dict[str, dspy.Module]):
        self.steps = steps

    def __deepcopy__(self, memo):  # frozen: every copy of the chain shares them
        return self


class GenerationChain(dspy.Module):
    """metadata -> Decode -> (Self-Rubrics -> Improve) -> instructions; `steps` are the tuned ones."""

    def __init__(self, program: dspy.Module, steps: tuple[str, ...], seed: int):
        super().__init__()
        unknown = [s for s in steps if s not in CHAIN]
        if unknown:
            raise ValueError(f"not a step of the generation chain: {unknown}")
        self.tuned_steps = tuple(s for s in CHAIN if s in steps)
        self.improves = "improve" in steps or "rubrics" in steps
        used = CHAIN if self.improves else ("decode",)
        for name in self.tuned_steps:
            setattr(self, name, getattr(program, name))
        self._frozen = _Frozen({name: getattr(program, name) for name in used if name not in steps})
        self.seed = seed

    def step(self, name: str) -> dspy.Module:
        return self.__dict__[name] if name in self.tuned_steps else self._frozen.steps[name]

    def deepcopy(self) -> "GenerationChain":
        """Optimizers copy the program: copy the tuned prompts, share the LMs (clients with a cache) and frozen steps."""
        lms = [getattr(self.step(n), "lm", None) for n in self.tuned_steps]
        return copy.deepcopy(self, {id(lm): lm for lm in lms if lm is not None})

    def forward(self, metadata: Metadata, key: str) -> dspy.Prediction:
        instructions: list[str] = []
        errors: list[str] = []
        try:
            decoded = self._call("decode", metadata=metadata, key=key)
            if not self.improves:
                instructions = list(decoded)
            else:
                rubrics = self._call("rubrics", metadata=metadata, key=key)
                for j, text in enumerate(decoded):
                    action = rubrics.action_order(self.seed, f"{key}-i{j}")[0]
                    try:
                        instructions.append(self._call("improve", instruction=text, metadata=metadata, action=action,
                                                       key=f"{key}-i{j}/2"))
                    except StepError as exc:
                        _raise_if_endpoint(exc)
                        errors.append(str(exc))
        except StepError as exc:
            _raise_if_endpoint(exc)
            errors.append(str(exc))
        return dspy.Prediction(instructions=instructions, errors=errors, demo_instructions=self.demo_instructions())

    def _call(self, name: str, **inputs: Any) -> Any:
        """Run one step. In a trace (an optimizer bootstrapping demos, GEPA reflecting) only a tuned step's last,
        validated call stays: a re-asked, rejected answer never becomes a demo, nor does a frozen step's call."""
        trace = dspy.settings.trace
        start = len(trace) if trace is not None else 0
        step = self.step(name)
        ok = False
        try:
            result = step(**inputs)
            ok = True
            return result
        finally:
            if trace is not None:
                mine = [entry for entry in trace[start:] if entry[0] is step.predict]
                del trace[start:]
                if ok and name in self.tuned_steps and mine:
                    trace.append(mine[-1])

    def demo_instructions(self) -> list[str]:
        """Instructions shown as demos to the chain's steps (a generated instruction must not copy one)."""
        found: list[str] = []
        for name in ("decode", "improve"):
            if name == "improve" and not self.improves:
                continue
            for demo in self.step(name).predict.demos:
                value = demo.get("new_instructions") if name == "decode" else demo.get("improved_instruction")
                found += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
        return found


def _raise_if_endpoint(exc: StepError) -> None:
    """A dead endpoint is not a bad prompt: stop instead of scoring zeros."""
    if exc.endpoint_failure:
        raise EndpointError(str(exc)) from None
