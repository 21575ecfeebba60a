"""`codeclm show PATH.tuned.json`: each step's effective instructions and demos, and a diff against its template.

The tuned file is loaded into the program it was made for (the YAML named in its header, or
`--program`) exactly as `codeclm run --tuned` loads it, so a file that does not fit is refused
with the same one-line error. Each step is printed as its instructions and its demos, followed
by a unified diff (difflib) against the same rendering of the step's Jinja template.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from codeclm.prompting.bundled import program_file
from codeclm.models.config import load_config
from codeclm.errors import ConfigError
from codeclm.programs.tuned import load_tuned, read_tuned


@dataclass(frozen=True)
class StepView:
    name: str  # the predictor's name in the program, e.g. decode.predict
    template: str  # prompts/<step>.jinja
    tuned_text: str
    template_text: str
    demos: int
    bootstrapped: int

    @property
    def diff(self) -> list[str]:
        return list(difflib.unified_diff(self.template_text.splitlines(), self.tuned_text.splitlines(),
                                         fromfile=f"{self.template} (template)", tofile=f"{self.name} (tuned)", lineterm=""))


def render_predictor(predictor: dspy.Predict) -> str:
    """Instructions, then each demo's fields (a bootstrapped demo is marked), as plain text."""
    lines = ["instructions:", *[f"  {line}" for line in predictor.signature.instructions.splitlines()]]
    lines.append(f"demos ({len(predictor.demos)}):")
    for n, demo in enumerate(predictor.demos, 1):
        fields = demo.toDict() if hasattr(demo, "toDict") else dict(demo)
        mark = " (bootstrapped)" if fields.pop("augmented", False) else ""
        lines.append(f"  {n}.{mark}")
        for key, value in fields.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            lines += [f"     {key}: {line}" if i == 0 else f"       {line}" for i, line in enumerate(str(text).splitlines() or [""])]
    return "\n".join(lines)


def program_for(path: Path, header: dict[str, Any], program: str | None) -> Path:
    """The program YAML to load the tuned file into: --program, else the one its header names."""
    if program:
        return Path(program)
    named = header.get("optimize", {}).get("program")
    if named and (path.parent / named).is_file():
        return Path(os.path.normpath(path.parent / named))
    if named and program_file(named):  # tuned for a bundled program, by name
        return Path(named)
    raise ConfigError(f"{path}: cannot tell which program it was tuned for; pass --program PROGRAM.yaml")


def step_views(path: str | Path, program: str | None = None, overrides: list[str] | None = None) -> tuple[dict[str, Any], list[StepView]]:
    """(the file's codeclm header, one view per step), the file loaded as `run --tuned` loads it."""
    from codeclm.programs import build_program

    path = Path(path)
    state, digest = read_tuned(path)
    header = dict(state.get("codeclm") or {})
    config = load_config(program_for(path, header, program), overrides)
    template, tuned = build_program(config), build_program(config)  # templates only: no model is opened
    load_tuned(tuned, path)
    header["sha256"], header["program_file"] = digest, config.source
    modules = {name.removeprefix("self."): module for name, module in tuned.named_sub_modules()}
    templates = dict(template.named_predictors())
    views = []
    for name, predictor in tuned.named_predictors():
        owner = modules.get(name.rsplit(".", 1)[0])
        rendered = template.rendered.get(getattr(owner, "name", ""))
        views.append(StepView(name, _display(rendered.path) if rendered else "?", render_predictor(predictor),
                              render_predictor(templates[name]), len(predictor.demos),
                              sum(1 for d in predictor.demos if d.get("augmented"))))
    return header, views


def show_tuned(path: str | Path, program: str | None = None, overrides: list[str] | None = None,
               steps: list[str] | None = None) -> str:
    """The text `codeclm show PATH.tuned.json` prints."""
    header, views = step_views(path, program, overrides)
    out = [f"tuned program {path} (sha256 {header['sha256'][:12]}), loaded into {header['program_file']}"]
    made = header.get("optimize")
    if made:
        c = made.get("comparison", {})
        out.append(f"made by codeclm optimize: {', '.join(made.get('steps', []))} with {made.get('optimizer')} on "
                   f"{made.get('benchmark')} (split {made.get('split')}, {made.get('train')} training / {made.get('heldout')} "
                   f"held-out metadata), {made.get('calls')} calls, {made.get('wall_seconds')} s")
        if c:
            out.append(f"held-out metric {c['before']:.3f} -> {c['after']:.3f} (difference {c['difference']:+.3f}, "
                       f"95% CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}): {c['verdict']}")
    changed = [v.name for v in views if v.diff]
    out.append(f"steps changed from their templates: {', '.join(changed) or 'none'}")
    for view in views:
        if steps and not any(s in view.name.split(".") for s in steps):
            continue
        state = f"{view.demos} demos ({view.bootstrapped} bootstrapped)"
        out += ["", f"== {view.name}  ({view.template}; {'changed' if view.diff else 'as the template'}; {state}) ==",
                view.tuned_text, f"-- diff against {view.template} --"]
        out += view.diff or ["(no difference)"]
    return "\n".join(out)


def _display(path: str) -> str:
    """A path relative to the working directory when it is below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
