"""README's and docs' generated figures equal what their sources give now (docs/figures.py): a re-recorded
check cassette, a changed results file, a new CLI flag or a new default fails here until `python docs/figures.py`
rewrites the blocks.

Runs against: no model and no server (docs/figures.py on the committed sources, among them the check cassette recorded from the real SmolLM2-135M).
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_figures"] = module
    spec.loader.exec_module(module)
    return module


def test_every_generated_block_is_current(figures):
    assert figures.stale() == [], "run: python docs/figures.py"


def test_every_source_is_quoted_somewhere(figures):
    text = "".join(path.read_text() for path in figures.FILES)
    assert {m["name"] for m in figures.BLOCK.finditer(text)} == set(figures.SOURCES)


def test_an_edited_figure_is_caught(figures, tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    line = figures.check_line()
    assert line in text
    figure = line.split(" right at")[0].split()[-1]  # e.g. 48/60
    readme.write_text(text.replace(line, line.replace(figure, "59/60")))
    figures_root, figures.ROOT = figures.ROOT, tmp_path
    try:
        assert figures.stale([readme]) == ["README.md: figures:filter-check-line"]
        readme.write_text(figures.render(readme.read_text()))
        assert figures.stale([readme]) == []
    finally:
        figures.ROOT = figures_root


def test_an_unknown_block_is_an_error(figures):
    with pytest.raises(KeyError, match="figures:no-such: no such source"):
        figures.render("<!-- figures:no-such -->\nx\n<!-- /figures:no-such -->\n")


def test_the_check_figures_come_from_the_cassette(figures):
    report = figures.filter_check()
    from codeclm.check.labelled import load_labelled

    decisions = [i for i in load_labelled(split="check") if i.label in ("keep", "send_back")]
    assert report.items == len(decisions) and report.scheme == "target-loss"
    assert f"{report.correct}/{report.items} right at theta" in figures.check_line()


def test_readme_program_is_a_valid_program(tmp_path):
    """The copy-pasteable program on README's first screen loads as written (API strong model, vLLM target)."""
    import re

    from codeclm.models.config import load_config

    text = (ROOT / "README.md").read_text()
    program = next(block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if "models:" in block)
    (tmp_path / "my-program.yaml").write_text(program)
    config = load_config(tmp_path / "my-program.yaml")
    assert config.models.strong.model == "gpt-4o-mini" and config.models.strong.api_key_env == "OPENAI_API_KEY"
    assert config.models.target.chat_template and config.models.target.api_base.endswith("/v1")
    assert config.judging.scheme == "target-loss" and config.prompts_dir() == ROOT / "prompts"
    served = re.search(r"--served-model-name (\S+)", text).group(1)
    assert served == config.models.target.model  # the program names the target as vLLM serves it
