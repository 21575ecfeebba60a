"""The filter check of an opened program: its filter signal on the check items, at the program's theta.

The target answers each item itself (temperature 0) to learn what it can do; the program's
judge (or the target-loss signal) then decides on the item's correct answer. `run` does this
before filtering and stops, with a fix that is not the scheme that just failed, when the check
fails; `codeclm judge check` prints the figures for one or all schemes.
"""

from __future__ import annotations

from codeclm.engine.score import SCORE_SERVERS
from codeclm.errors import JudgeCalibrationError
from codeclm.executors import ThreadExecutor
from codeclm.judging.check import CheckReport, run_check
from codeclm.judging.checkset import load_check_items
from codeclm.judging.scales import SCALES
from codeclm.judging.schemes import make_judge
from codeclm.roles import LOGPROB_SCHEMES, role_specs, target_chat_template
from codeclm.session import Session
from codeclm.steps.respond import Respond

# The check's tasks have short answers: on the bundled set no label changes between 80 words (~112 tokens) and 384 tokens.
CHECK_ANSWER_TOKENS = 112

FIXES = {
    "target-loss": "a strong judge model with an LLM-judge scheme (models.judge: {model: gpt-4o-mini, api_key_env: "
                   "OPENAI_API_KEY} and judging.scheme: pairwise-1-10), or check models.target.chat_template",
    "llm-judge": f"judging.scheme: target-loss (no judge: needs a target served by {SCORE_SERVERS}), "
                 "or a stronger judge model (models.judge: {model: gpt-4o-mini, api_key_env: OPENAI_API_KEY})",
}


def check_filter(session: Session, *, scheme: str | None = None, split: str = "check") -> CheckReport:
    """The program's filter signal (or `scheme`'s) on the check items of `split`."""
    config, program = session.config, session.program
    scheme = scheme or config.judging.scheme
    settings = config.judging.check
    if scheme == config.judging.scheme:
        judge, theta = program.contrastive_filter.judge, config.theta
    else:
        scale = SCALES[scheme]
        library = config.prompt_library()
        lm = session.lms["target"] if scale.scores_with == "target" else session.lm(
            "judge", role_specs(config)["judge"], logprobs=scheme in LOGPROB_SCHEMES)
        judge = make_judge(scheme, library.render(scale.template), lm,
                           max_attempts=config.max_attempts, temperature=config.judging.temperature,
                           max_tokens=config.judging.max_tokens, chat_template=target_chat_template(config))
        theta = scale.threshold
    target = Respond(program.rendered["respond"], session.lms["target"], role="target", max_attempts=config.max_attempts,
                     temperature=0.0, max_tokens=min(config.answering.max_tokens, CHECK_ANSWER_TOKENS))
    items = load_check_items(config.resolve(settings.items) if settings.items else None, split=None if split == "all" else split)
    # An embedded target answers the check one item at a time: side-by-side steps can break a near tie either
    # way, and the gate's figures must be the same on every fresh run (batching bought the check nothing: 57 vs 49 s).
    at_once = 1 if role_specs(config)["target"].local else config.concurrency
    return run_check(judge, lambda text, key: target(instruction=text, key=key), items, theta=theta,
                     min_accuracy=settings.min_accuracy, executor=ThreadExecutor(at_once),
                     target_model=getattr(session.lms["target"], "model", "?"))


def require_passed(report: CheckReport) -> CheckReport:
    """Raise JudgeCalibrationError, naming a fix that is not the scheme that just failed, unless the check passed."""
    if not report.passed:
        fix = FIXES["target-loss" if report.scheme == "target-loss" else "llm-judge"]
        raise JudgeCalibrationError(
            f"filter check {report.verdict.split(' (')[0].lower()}: {report.scheme} decided {report.correct}/{report.items} "
            f"items right at theta {report.theta:g} ({report.accuracy:.0%}, 95% CI {report.ci_low:.0%}-{report.ci_high:.0%}; "
            f"{report.verdict}); its decisions would be noise. Fix: {fix}; judging.check.enabled: false runs unchecked"
        )
    return report
