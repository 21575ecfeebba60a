"""Prompt templates: render `prompts/<step>.jinja` into a step's instructions and few-shot demos.

A template's rendered text becomes the signature's instructions; a top-level
`{% set demos = [...] %}` in the same file becomes the predictor's demos. Templates
render in a sandboxed environment with StrictUndefined, so a typo is an error,
not an empty string.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from codeclm.errors import TemplateError


@dataclass(frozen=True)
class RenderedPrompt:
    """One step's prompt: instructions text, demos, and a hash of what produced them."""

    step: str
    instructions: str
    demos: list[dict[str, Any]] = field(default_factory=list)
    sha256: str = ""
    path: str = ""


class PromptLibrary:
    """Renders the templates of one prompts directory with the program's variables."""

    def __init__(self, directory: str | Path, variables: dict[str, Any] | None = None):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise TemplateError(f"{self.directory}: prompts directory not found (set `prompts:` in the program YAML)")
        self.variables = dict(variables or {})
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def path(self, step: str) -> Path:
        return self.directory / f"{step}.jinja"

    def render(self, step: str) -> RenderedPrompt:
        """Render `<step>.jinja`; raise TemplateError naming the file and line on any problem."""
        path = self.path(step)
        if not path.is_file():
            raise TemplateError(f"{path}: template for step '{step}' not found")
        source = path.read_text(encoding="utf-8")
        try:
            module = self._env.get_template(path.name).make_module(self.variables)
            instructions = str(module).strip()
            demos = list(getattr(module, "demos", []) or [])
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{path}:{exc.lineno}: template syntax error: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{path}: undefined variable in template: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{path}: unsafe template operation: {exc}") from None
        if not instructions:
            raise TemplateError(f"{path}: template renders to empty instructions")
        for i, demo in enumerate(demos):
            if not isinstance(demo, dict):
                raise TemplateError(f"{path}: demos[{i}] must be a mapping of field names to values")
        digest = hashlib.sha256(
            json.dumps({"source": source, "variables": self.variables}, sort_keys=True, default=str).encode()
        ).hexdigest()
        return RenderedPrompt(step=step, instructions=instructions, demos=demos, sha256=digest, path=str(path))
