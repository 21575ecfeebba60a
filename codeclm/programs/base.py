"""What every data program shares (CodecLM and the baselines): rendered templates, model names, and a
`forward` over seeds that streams each kept, filtered and failed item to a sink as it finishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import dspy

from codeclm.models.config import ProgramConfig
from codeclm.executors import Executor, Outcome, ThreadExecutor
from codeclm.output.records import Dropped, Record, Seed, seed_id
from codeclm.output.sink import MemorySink, Sink
from codeclm.prompting.templates import RenderedPrompt


@dataclass
class Stages:
    """Where one `forward` call sends its work (executor) and its results (sink); `done`: ids to skip; `prior`: what
    the output already holds (an OutputState: kept records and dropped items), or None."""

    executor: Executor
    sink: Sink
    done: frozenset[str] = field(default_factory=frozenset)
    prior: Any = None


class DataProgram(dspy.Module):
    """A dspy.Module that turns seed instructions into records; subclasses implement `generate`.

    LMs are given per role (strong / target / judge) and are not part of the saved state, so a
    tuned program loads against other models.
    """

    tuned: str | None = None  # sha256 of a tuned program file loaded into this program (codeclm.programs.tuned)

    def __init__(self, config: ProgramConfig):
        super().__init__()
        self.config = config
        library = config.prompt_library()
        self.rendered: dict[str, RenderedPrompt] = {step: library.render(name) for step, name in self.template_names().items()}

    def template_names(self) -> dict[str, str]:
        """Step -> the prompts/<name>.jinja it renders (`codeclm show` prints these)."""
        raise NotImplementedError

    @property
    def templates(self) -> dict[str, str]:
        """sha256 of each template as rendered, per step name (every record carries it)."""
        return {name: prompt.sha256 for name, prompt in self.rendered.items()}

    def forward(self, seeds: Sequence[Seed | str], *, executor: Executor | None = None, sink: Sink | None = None,
                done: frozenset[str] | set[str] = frozenset(), prior: Any = None) -> dspy.Prediction:
        """Run the program over `seeds`. Without a sink, records and dropped items are returned. `prior`: the
        output's OutputState when resuming (records: N counts what it already holds)."""
        collected = sink is None
        sink = MemorySink() if sink is None else sink
        stages = Stages(executor or ThreadExecutor(self.config.concurrency), sink, frozenset(done), prior)
        self.generate([s if isinstance(s, Seed) else Seed(id=seed_id(s), text=s) for s in seeds], stages)
        return dspy.Prediction(records=sink.records, dropped=sink.dropped) if collected else dspy.Prediction(sink=sink)

    def generate(self, seeds: list[Seed], stages: Stages) -> None:
        """The program's algorithm: run stages with `self.stage` and finish with `self.final_stage`."""
        raise NotImplementedError

    def stage(self, stages: Stages, name: str, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Outcome]:
        """Map `fn` over `items`; a failed item goes to the sink the moment it fails. Returns the successes."""

        def report(outcome: Outcome) -> None:
            if not outcome.ok:
                stages.sink.drop(self.failure(outcome))

        return [o for o in stages.executor.map(name, fn, items, on_outcome=report) if o.ok]

    def final_stage(self, stages: Stages, name: str, fn: Callable[[Any], Any], items: Sequence[Any],
                    skip_done: bool = True, pending: Callable[[Any], None] | None = None) -> list[Outcome]:
        """Map `fn` (item -> Record or Dropped); each result goes to the sink as it finishes.

        Items whose id is done are skipped; a program whose later items depend on earlier ones
        (Evol-Instruct's rounds) passes `skip_done=False` and still never writes a done id twice.
        With `pending`, `fn` may also return an unfinished item (neither Record nor Dropped): it goes
        to `pending`, for a later stage, instead of the sink.
        """

        def report(outcome: Outcome) -> None:
            if pending is not None and outcome.ok and not isinstance(outcome.value, (Record, Dropped)):
                pending(outcome.value)
            else:
                self.emit(stages, outcome.value if outcome.ok else self.failure(outcome))

        todo = [item for item in items if item.id not in stages.done] if skip_done else list(items)
        return stages.executor.map(name, fn, todo, on_outcome=report)

    def emit(self, stages: Stages, result: Record | Dropped) -> None:
        """A finished item to the sink: kept or dropped; never an id that an earlier run finished."""
        if result.id in stages.done:
            return
        if isinstance(result, Record):
            stages.sink.keep(result)
        else:
            stages.sink.drop(result)

    def failure(self, outcome: Outcome) -> Dropped:
        """A failed item, with what is known of it (its text, its metadata) and the step that failed. A permanent
        failure (e.g. too long for the context) is dropped for good ("filtered"); others are retried next run."""
        item = outcome.item
        return Dropped(
            id=getattr(item, "id", "?"), stage=outcome.stage or "unknown", kind="filtered" if outcome.permanent else "failed",
            reason=outcome.error or "",
            instruction=getattr(item, "instruction", None) or getattr(item, "text", None),
            metadata=getattr(item, "metadata", None) or getattr(getattr(item, "source", None), "metadata", None),
            metadata_origin=getattr(item, "origin", None) or getattr(getattr(item, "source", None), "origin", None),
            program=self.config.name,
        )

    def model_names(self) -> dict[str, str]:
        """The model behind each role, as records name it."""
        raise NotImplementedError
