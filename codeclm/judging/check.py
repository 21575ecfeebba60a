"""Calibrate a program's judge on its own seeds: `codeclm judge check` and the start of every run."""

from __future__ import annotations

import logging

from codeclm.errors import EndpointError, StepError
from codeclm.judging.calibration import CalibrationReport, cache_key, evaluate, load_cached, store
from codeclm.judging.pairs import build_pairs
from codeclm.judging.scales import SCALES
from codeclm.judging.schemes import make_judge
from codeclm.templates import PromptLibrary

log = logging.getLogger(__name__)


def calibrate(config, program, seeds, schemes: list[str] | None = None, use_cache: bool | None = None) -> list[CalibrationReport]:
    """One report per scheme (default: the configured one), judged by the program's judge LM.

    Pairs come from the first `judging.calibration.seeds` seeds and the strong model's answers
    to them. Reports are cached under the judge, scheme, prompts, sampling and seed texts.
    """
    settings = config.judging.calibration
    use_cache = settings.cache if use_cache is None else use_cache
    cf = program.contrastive_filter
    chosen = seeds[: settings.seeds]
    judges = {s: cf.judge if s == config.judging.scheme else make_judge(
                  s, _prompts(config).render(SCALES[s].template), cf.judge.lm, max_attempts=config.max_attempts,
                  temperature=config.judging.temperature, max_tokens=config.judging.max_tokens)
              for s in (schemes or [config.judging.scheme])}
    keys = {s: _key(config, cf, j, chosen) for s, j in judges.items()}
    reports = {s: load_cached(keys[s]) if use_cache else None for s in judges}
    if all(reports.values()):
        return [reports[s] for s in judges]
    answered, failures = [], []
    for seed in chosen:
        try:
            answered.append((seed.text, cf.respond_strong(instruction=seed.text, key=f"calibration/{seed.id}")))
        except StepError as exc:
            log.warning("calibration: no strong answer for seed %s: %s", seed.id, exc)
            failures.append(exc)
    if len(answered) < 2 and failures:
        # Nothing to judge: say why (a dead endpoint is not a judge at chance).
        raise failures[-1] if not failures[-1].endpoint_failure else EndpointError(
            f"judge calibration could not start: {failures[-1]}; check the endpoint, or set judging.calibration.enabled: false")
    pairs = build_pairs([a[0] for a in answered], [a[1] for a in answered]) if len(answered) >= 2 else []
    for scheme, judge in judges.items():
        if reports[scheme] is None:
            threshold = config.theta if scheme == config.judging.scheme else SCALES[scheme].threshold
            reports[scheme] = evaluate(judge, pairs, threshold=threshold, min_accuracy=settings.min_accuracy)
            if use_cache and reports[scheme].pairs:
                store(keys[scheme], reports[scheme])
    return [reports[s] for s in judges]


def _prompts(config) -> PromptLibrary:
    return PromptLibrary(config.resolve(config.prompts), config.template_variables())


def _key(config, cf, judge, seeds) -> str:
    return cache_key(
        scheme=judge.scheme, judge_model=judge.model_name, judge_template=judge.template_sha256, judge_config=judge.lm_config,
        strong_model=cf.respond_strong.model_name, respond_template=cf.respond_strong.template_sha256,
        answering=cf.respond_strong.lm_config, seeds=[s.text for s in seeds], theta=config.theta,
        min_accuracy=config.judging.calibration.min_accuracy, version=1,
    )
