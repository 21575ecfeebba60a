"""Templates: sandboxed, strict, their demos and hashes; a bad template is a one-line error naming the file.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import shutil

import pytest

from codeclm.errors import TemplateError
from codeclm.prompting.templates import PromptLibrary

VARS = {"num_skills": 3, "num_instructions": 2, "num_rubrics": 4}


@pytest.fixture
def prompts(tmp_path, root):
    target = tmp_path / "prompts"
    shutil.copytree(root / "prompts", target)
    return target


def test_every_step_renders_with_the_program_variables(root):
    library = PromptLibrary(root / "prompts", VARS)
    for step in sorted(p.stem for p in (root / "prompts").glob("*.jinja")):
        rendered = library.render(step)
        assert rendered.instructions and "{{" not in rendered.instructions
        assert len(rendered.sha256) == 64


def test_variables_reach_the_text(root):
    text = PromptLibrary(root / "prompts", {**VARS, "num_instructions": 7}).render("decode").instructions
    assert "write 7 new" in text


def test_encode_ships_three_demos(root):
    demos = PromptLibrary(root / "prompts", VARS).render("encode").demos
    assert len(demos) == 3
    assert all({"instruction", "use_case", "skills"} <= set(d) for d in demos)


def test_hash_changes_with_source_and_variables(prompts):
    before = PromptLibrary(prompts, VARS).render("respond").sha256
    assert PromptLibrary(prompts, {**VARS, "num_skills": 2}).render("respond").sha256 != before
    (prompts / "respond.jinja").write_text("Answer in French.")
    assert PromptLibrary(prompts, VARS).render("respond").sha256 != before


def test_undefined_variable_names_file(prompts):
    (prompts / "decode.jinja").write_text("Write {{ num_instrutions }} instructions.")
    with pytest.raises(TemplateError, match=r"decode\.jinja: undefined variable.*num_instrutions"):
        PromptLibrary(prompts, VARS).render("decode")


def test_syntax_error_names_file_and_line(prompts):
    (prompts / "encode.jinja").write_text("line one\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"encode\.jinja:2: template syntax error"):
        PromptLibrary(prompts, VARS).render("encode")


def test_sandbox_blocks_python_internals(prompts):
    (prompts / "respond.jinja").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="respond.jinja"):
        PromptLibrary(prompts, VARS).render("respond")


def test_missing_template_and_directory(prompts, tmp_path):
    (prompts / "judge.jinja").unlink()
    with pytest.raises(TemplateError, match=r"judge\.jinja: template for step 'judge' not found"):
        PromptLibrary(prompts, VARS).render("judge")
    with pytest.raises(TemplateError, match="prompts directory not found"):
        PromptLibrary(tmp_path / "nope", VARS)


def test_empty_template_is_an_error(prompts):
    (prompts / "respond.jinja").write_text("{# only a comment #}")
    with pytest.raises(TemplateError, match="empty instructions"):
        PromptLibrary(prompts, VARS).render("respond")


def test_show_prints_the_templates_the_configured_scheme_uses(root, capsys):
    from codeclm.cli import main

    assert main(["show", str(root / "programs" / "codeclm.yaml"), "judge"]) == 0
    shown = capsys.readouterr()
    assert "respond.jinja" in shown.err and "judge_pointwise" not in shown.err  # target-loss scores under Respond
    assert main(["show", str(root / "programs" / "codeclm.yaml"), "judge", "--set", "judging.scheme=pointwise-logprob"]) == 0
    shown = capsys.readouterr()
    assert "judge_pointwise.jinja" in shown.err and "Rate how helpful" in shown.out
