"""The filter check of an opened program: the filter's own path on labelled items, at the program's theta.

Which items: a user's own labelled file (`judging.check.items`), else the bundled labelled set when the
target is the one its labels were read for (codeclm.check.labelled), else the quiz family, whose label
follows from the target's own answer (codeclm.check.cases), so it holds for any target. `run` does
this before filtering and stops, with a fix that is not the scheme that just failed, when the check
fails; `codeclm judge check` prints the figures for one or all schemes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from codeclm.errors import JudgeCalibrationError
from codeclm.executors import ThreadExecutor
from codeclm.steps.guards import Answer, check
from codeclm.check.grading import Case, CheckReport, run_check
from codeclm.check.cases import load_check_items, solved
from codeclm.check.labelled import LABELLED_TARGET, load_labelled
from codeclm.judging.schemes import SCHEMES, make_judge
from codeclm.models.roles import role_specs, target_chat_template, target_is_strong
from codeclm.programs.session import Session
from codeclm.steps.contrast import ContrastiveFilter
from codeclm.steps.respond import Respond

if TYPE_CHECKING:
    from codeclm.models.calibrations import Calibration

# Quiz answers are short: on the bundled quizzes no label changes between 80 words (~112 tokens) and 384 tokens.
QUIZ_ANSWER_TOKENS = 112


def labelled_case(item) -> Case:
    return Case(id=item.id, family=item.family, instruction=item.instruction, strong=item.strong.answer(item.instruction),
                target=item.target.answer(item.instruction) if item.target else None, label=item.label, use_case=item.use_case,
                iteration=item.iteration)


def is_labelled_file(path: Path) -> bool:
    """A labelled file has a `label` per line; a quiz file has `expect`."""
    with path.open() as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        return "label" in json.loads(first)
    except json.JSONDecodeError:
        return True  # let the labelled loader name the file and line


def theta_for(config, scheme: str) -> float:
    """The program's theta for its own scheme; another scheme's default threshold."""
    return config.theta if scheme == config.judging.scheme else SCHEMES[scheme].threshold


def filter_for(session: Session, scheme: str) -> tuple[ContrastiveFilter, float]:
    """The program's contrastive filter and theta for its scheme; for another scheme, the same filter with that judge."""
    config, program = session.config, session.program
    if scheme == config.judging.scheme:
        return program.contrastive_filter, theta_for(config, scheme)
    scale = SCHEMES[scheme]
    lm = session.lms["target"] if scale.scores_with == "target" else session.lm(
        "judge", role_specs(config)["judge"], logprobs=SCHEMES[scheme].logprobs)
    judge = make_judge(scheme, config.prompt_library().render(scale.template), lm, max_attempts=config.max_attempts,
                       temperature=config.judging.temperature, max_tokens=config.judging.max_tokens,
                       chat_template=target_chat_template(config))
    base = program.contrastive_filter
    return ContrastiveFilter(base.respond_strong, base.respond_target, judge), theta_for(config, scheme)


def check_cases(session: Session, split: str) -> tuple[list[Case], list[Case], str]:
    """(cases of `split`, dev cases for the trivial baselines, where they come from)."""
    config = session.config
    wanted = None if split == "all" else split
    items_path = config.resolve(config.judging.check.items) if config.judging.check.items else None
    if items_path is not None and is_labelled_file(Path(items_path)):
        every = load_labelled(items_path, split=None)
        return ([labelled_case(i) for i in every if wanted is None or i.split == wanted],
                [labelled_case(i) for i in every if i.split == "dev"], f"labelled items in {items_path}")
    target = role_specs(config)["target"]
    if items_path is None and LABELLED_TARGET in (target.local, target.model):  # the same weights, embedded or served
        every = load_labelled(split=None)
        return ([labelled_case(i) for i in every if wanted is None or i.split == wanted],
                [labelled_case(i) for i in every if i.split == "dev"],
                f"bundled labelled set (instructions the pipeline made, labelled by reading both answers, for {LABELLED_TARGET})")
    quizzes = load_check_items(items_path, split=None)
    return (_quiz_cases(session, [q for q in quizzes if wanted is None or q.split == wanted]),
            _quiz_cases(session, [q for q in quizzes if q.split == "dev"]),
            "quiz family (the target's own answer decides the label: keep where it fails, send back where it solves)")


def _quiz_cases(session: Session, quizzes) -> list[Case]:
    """Each quiz answered by the target (temperature 0, one at a time for an embedded target: the same figures on
    every fresh run); its label follows from whether that answer holds the known result."""
    config = session.config
    target = Respond(session.program.rendered["respond"], session.lms["target"], role="target", max_attempts=config.max_attempts,
                     temperature=0.0, max_tokens=min(config.answering.max_tokens, QUIZ_ANSWER_TOKENS))
    at_once = 1 if role_specs(config)["target"].local else config.concurrency

    def one(quiz) -> Case:
        answer = target(instruction=quiz.instruction, key=f"check/{quiz.id}")
        return Case(id=quiz.id, family=quiz.family, instruction=quiz.instruction,
                    strong=Answer(text=quiz.answer, finish_reason="stop", guard=check(quiz.answer, "stop", quiz.instruction)), target=answer,
                    label="send_back" if solved(quiz, answer.text) else "keep", use_case=quiz.family)

    return [o.value for o in ThreadExecutor(at_once).map("check answers", one, quizzes) if o.ok]


def check_filter(session: Session, *, scheme: str | None = None, split: str = "check") -> CheckReport:
    """The program's filter (or the same filter with `scheme`'s judge) on the check items of `split`."""
    config = session.config
    scheme = scheme or config.judging.scheme
    if target_is_strong(config):  # before any judge is built: another scheme's would open its LM for nothing
        return same_model_report(config, scheme, theta_for(config, scheme))
    contrastive_filter, theta = filter_for(session, scheme)
    cases, dev, source = check_cases(session, split)
    at_once = 1 if role_specs(config)["target"].local else config.concurrency
    return run_check(contrastive_filter, cases, theta=theta, min_accuracy=config.judging.check.min_accuracy,
                     executor=ThreadExecutor(at_once), target_model=getattr(session.lms["target"], "model", "?"),
                     dev=dev if split != "dev" else [], source=source)


def same_model_report(config, scheme: str, theta: float) -> CheckReport:
    """The check's answer when the target is the strong model itself: no item can decide otherwise than "send back"."""
    target = config.models.target.label
    return CheckReport(scheme=scheme, judge_model="none (the target is the strong model)", target_model=target, theta=theta,
                       min_accuracy=config.judging.check.min_accuracy, source="none: the target is the strong model",
                       items=0, correct=0, failed=0, accuracy=0.0, ci_low=0.0, ci_high=0.0, sign_accuracy=0.0, by_decision={},
                       by_family={}, seconds_per_item=0.0, passed=False, status="target_strong",
                       verdict=f"target strong: {target} is the strong model itself, so every instruction is too easy by "
                               f"construction (sent back, improved, dropped at the cap); no check items are needed")


def require_passed(report: CheckReport) -> CheckReport:
    """Raise JudgeCalibrationError, naming a fix that is not the scheme that just failed, unless the check passed
    (or found the target so strong that nearly everything is too easy: then the run goes on and says so)."""
    if report.status not in ("passed", "target_strong"):
        fix = SCHEMES[report.scheme].fix
        raise JudgeCalibrationError(
            f"filter check {report.verdict.split(' (')[0].lower()}: {report.scheme} decided {report.correct}/{report.items} "
            f"items right at theta {report.theta:g} ({report.accuracy:.0%}, 95% CI {report.ci_low:.0%}-{report.ci_high:.0%}; "
            f"{report.verdict}); its decisions would be noise. Fix: {fix}; judging.check.enabled: false runs unchecked"
        )
    return report


def calibrate(session: Session) -> Calibration:
    """Fit theta for the program's target and scheme on dev items (never the check split) and record it beside
    the program (calibrations.json)."""
    from codeclm.check.baselines import fit_theta
    from codeclm.models.calibrations import Calibration, record, record_place

    config = session.config
    contrastive_filter, _ = filter_for(session, config.judging.scheme)
    _, dev, source = check_cases(session, "dev")
    graded = [c for c in dev if c.label in ("keep", "send_back")]
    if len(graded) < 2 * 8:
        raise JudgeCalibrationError(f"only {len(graded)} labelled keep/send_back dev items to fit theta on ({source}); "
                                    f"give at least 16 with --items FILE (lines with split: dev)")
    at_once = 1 if role_specs(config)["target"].local else config.concurrency

    def gap(case: Case) -> float | None:
        contrast = contrastive_filter(instruction=case.instruction, key=f"check/{case.id}", strong=case.strong, target=case.target)
        return contrast.verdict.gap if contrast.verdict else None

    outcomes = ThreadExecutor(at_once).map("calibrate", gap, graded)
    pairs = [(o.value, o.item.label) for o in outcomes if o.ok and o.value is not None]
    theta, accuracy = fit_theta([g for g, _ in pairs], [label for _, label in pairs])
    per = {d: [g > theta for g, label in pairs if label == d] for d in ("keep", "send_back")}
    found = Calibration(target=config.models.target.label, scheme=config.judging.scheme, theta=theta, fit_on=f"dev split of the {source}",
                        dev_items=len(pairs), dev_accuracy=round(accuracy, 3),
                        dev_by_decision={"keep": f"{sum(per['keep'])}/{len(per['keep'])}",
                                         "send_back": f"{len(per['send_back']) - sum(per['send_back'])}/{len(per['send_back'])}"})
    record(record_place(config), found)
    return found


def fingerprint(session: Session, scheme: str | None = None) -> str:
    """What shapes the check's decisions for this program: a recorded check with the same fingerprint is reused."""
    import hashlib

    from codeclm import __version__
    from codeclm.models.calibrations import check_fingerprint
    from codeclm.check.cases import bundled_path
    from codeclm.check.labelled import bundled_labelled_path

    config = session.config
    scheme = scheme or config.judging.scheme
    items = config.resolve(config.judging.check.items) if config.judging.check.items else None
    files = [Path(items)] if items else [bundled_labelled_path(), bundled_path()]
    return check_fingerprint(target=config.models.target.label, judge=role_specs(config)["judge"].label, scheme=scheme,
                             theta=theta_for(config, scheme),
                             templates=session.program.templates, min_accuracy=config.judging.check.min_accuracy,
                             items=[hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()], version=__version__)


def judge_label(config, scheme: str) -> str:
    """The model a scheme's verdict comes from: the target's for target-loss, else the judge's."""
    return role_specs(config)["target" if SCHEMES[scheme].scores_with == "target" else "judge"].label


def record_report(session: Session, report: CheckReport, where: Path | None = None) -> None:
    """Keep `report` (in `where`, default beside the program): `codeclm eval` needs a passed one beside the program,
    and a run with the same fingerprint reuses it instead of paying for the check again."""
    from codeclm.models.calibrations import CheckRecord, record_check, record_place

    config = session.config
    record_check(where or record_place(config), CheckRecord(
        scheme=report.scheme, judge=judge_label(config, report.scheme), target=config.models.target.label, status=report.status,
        line=report.line(), source=report.source, fingerprint=fingerprint(session, report.scheme),
        report=report.model_dump(exclude={"results"})))


def recorded_report(session: Session, places: list[Path]) -> tuple[CheckReport, str] | None:
    """A recorded check of this program's scheme and judge whose fingerprint is the current one: (report, date)."""
    from codeclm.models.calibrations import find_check

    config = session.config
    current = fingerprint(session)
    for place in places:
        found = find_check(place, config.judging.scheme, judge_label(config, config.judging.scheme))
        if found is not None and found.fingerprint == current and found.report:
            return CheckReport.model_validate({**found.report, "calls": 0}), found.date
    return None
