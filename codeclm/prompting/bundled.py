"""The programs and templates that ship with codeclm: found by name, and copied out by `codeclm init`.

In a wheel they live in `codeclm/_bundled/{programs,prompts}` (copied there from the repository's
top-level `programs/` and `prompts/` by setup.py's build step); in a checkout or an editable
install they are read from those top-level folders directly.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from codeclm.errors import ConfigError

PACKAGED = Path(__file__).resolve().parents[1] / "_bundled"
CHECKOUT = Path(__file__).resolve().parents[2]


def data_dir(kind: str) -> Path:
    """The folder of bundled `programs` or `prompts`: the wheel's copy, else the checkout's."""
    packaged = PACKAGED / kind
    if packaged.is_dir():
        return packaged
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / kind).is_dir():
        return CHECKOUT / kind
    raise ConfigError(f"{packaged}: bundled {kind} not found; reinstall codeclm (pip install --force-reinstall codeclm)")


def names() -> list[str]:
    """Names of the bundled programs (`codeclm run NAME`)."""
    return sorted(p.stem for p in data_dir("programs").glob("*.yaml"))


def program_file(name: str) -> Path | None:
    """The bundled program called `name` (with or without .yaml), or None."""
    if "/" in name or "\\" in name:
        return None
    path = data_dir("programs") / (name if name.endswith(".yaml") else f"{name}.yaml")
    return path if path.is_file() else None


def resolve(ref: str | Path) -> tuple[Path, bool]:
    """(the program file, whether it is bundled): an existing file wins; else a bundled program's name."""
    path = Path(ref)
    if path.is_file():
        return path, False
    bundled = program_file(str(ref))
    if bundled is not None:
        return bundled, True
    raise ConfigError(f"{ref}: program file not found, and no bundled program has that name "
                      f"(bundled: {', '.join(names())}; `codeclm init DIR` writes an editable copy)")


_TOP_KEY = "^{key}:[^\n]*$"


def init(folder: str | Path, program: str = "codeclm") -> Path:
    """Write an editable copy of a bundled program into `folder`: `<program>.yaml` (its `prompts:` pointing at
    `prompts/` beside it, its `output:` at `data/<program>.jsonl` beside it) and every template. Refuses to
    overwrite a file that exists. Returns the program file."""
    source = program_file(program)
    if source is None:
        raise ConfigError(f"--program {program}: no bundled program has that name; choose from {', '.join(names())}")
    folder = Path(folder)
    target = folder / source.name
    templates = sorted(data_dir("prompts").glob("*.jinja"))
    existing = [p for p in [target, *(folder / "prompts" / t.name for t in templates)] if p.exists()]
    if existing:
        raise ConfigError(f"{existing[0]}: exists; codeclm init never overwrites your edits: choose another folder "
                          f"or move it away")
    text = source.read_text(encoding="utf-8")
    stem = Path(_top_value(text, "output") or f"{source.stem}.jsonl").name
    text = _set_top(text, "prompts", "prompts")
    text = _set_top(text, "output", f"data/{stem}")
    try:
        (folder / "prompts").mkdir(parents=True, exist_ok=True)
        for template in templates:
            shutil.copyfile(template, folder / "prompts" / template.name)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write there ({exc.strerror or exc}); choose another folder") from None
    return target


def _top_value(text: str, key: str) -> str | None:
    match = re.search(_TOP_KEY.format(key=key), text, flags=re.M)
    return match.group(0).split(":", 1)[1].split("#", 1)[0].strip() if match else None


def _set_top(text: str, key: str, value: str) -> str:
    """Replace a top-level `key: ...` line (keeping the file's comments), or add one."""
    line = f"{key}: {value}"
    if re.search(_TOP_KEY.format(key=key), text, flags=re.M):
        return re.sub(_TOP_KEY.format(key=key), line, text, count=1, flags=re.M)
    return text.rstrip("\n") + f"\n{line}\n"
