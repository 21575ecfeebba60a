"""Program files: YAML -> a validated `ProgramConfig`. Errors name the file and the key."""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from codeclm.prompting.bundled import data_dir, resolve as find_program
from codeclm.errors import ConfigError
from codeclm.models.calibrations import find as find_calibration, record_places
from codeclm.judging.schemes import SCHEMES
from codeclm.prompting.templates import PromptLibrary

if TYPE_CHECKING:
    from codeclm.engine.routes import Route

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# `program:` values -> "module:Class" of the DataProgram that runs each; codeclm.programs.registry imports the class
# when it builds the program (config imports no program: programs sit above it).
PROGRAMS: dict[str, str] = {
    "codeclm": "codeclm.programs.codeclm:CodecLM",
    "self_instruct": "codeclm.programs.self_instruct:SelfInstruct",
    "evol_instruct": "codeclm.programs.evol_instruct:EvolInstruct",
}


def one_of(value: Any, names: Any) -> Any:
    """`value` if it is one of `names` (read when validating, so a name registered later counts), else the error a
    Literal of those names gives."""
    names = list(names)
    if value not in names:
        quoted = [repr(n) for n in names]
        expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """One role's model: an embedded `local` model, or any OpenAI-compatible endpoint."""

    local: str | None = Field(None, description="name of an embedded local model (`codeclm serve --help` lists them)")
    model: str | None = Field(None, description="model id, e.g. 'gpt-4o-mini' or 'openai/gpt-4o-mini'")
    api_base: str | None = None
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the key")
    temperature: float | None = Field(None, ge=0, le=2, description="overrides every step's temperature on this model")
    max_tokens: int | None = Field(None, gt=0, description="overrides every step's answer cap on this model")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    max_tries: int = Field(5, ge=1, description="tries per request on 429/5xx/timeouts, with backoff")
    backoff: float = Field(1.0, ge=0, description="base seconds of the jittered exponential backoff")
    max_concurrency: int = Field(4, ge=1)
    adaptive_concurrency: bool = Field(True, description="requests in flight follow an AIMD limit: start at 1, grow "
                                       "while replies are fast, halve on 429/overload, never above max_concurrency "
                                       "(embedded local models: fixed)")
    rpm: float | None = Field(None, gt=0, description="requests per minute limit for this endpoint")
    tpm: float | None = Field(None, gt=0, description="tokens per minute limit for this endpoint")
    chat_template: str | None = Field(
        None, description="how this model reads a conversation, for judging.scheme target-loss: chatml, llama3, mistral, "
        "gemma, phi3, or a Jinja chat template (embedded local models know their own)")
    price_in_per_1m: float | None = Field(None, ge=0)
    price_out_per_1m: float | None = Field(None, ge=0)
    batch_api: Literal["auto", "openai", "anthropic", "none"] = Field(
        "auto", description="which provider batch API `--executor batch` sends this model's calls to: auto (OpenAI "
        "models at api.openai.com -> openai, anthropic/ models -> anthropic, any other endpoint: none), openai (any "
        "server with OpenAI's /files and /batches), anthropic, or none (calls go to the endpoint directly)")
    batch_discount: float = Field(0.5, ge=0, le=1, description="share taken off price_in_per_1m / price_out_per_1m "
                                  "for calls answered in a batch (OpenAI and Anthropic: 0.5, half price)")

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if bool(self.local) == bool(self.model):
            raise ValueError("give exactly one of `local` (embedded model) or `model` (endpoint model id)")
        return self

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself")
        return value

    @property
    def label(self) -> str:
        return f"local:{self.local}" if self.local else str(self.model)

    @property
    def route(self) -> Route:
        """Where this model's calls go (codeclm.engine.routes.Route): direct or litellm, and which batch API."""
        from codeclm.engine.routes import route

        return route(self.local or self.model or "", local=bool(self.local), api_base=self.api_base,
                     batch_api=self.batch_api)


class Roles(_Strict):
    strong: ModelSpec
    target: ModelSpec
    judge: ModelSpec | None = Field(None, description="defaults to the strong model")


class SeedsSpec(_Strict):
    path: str = Field(..., description="JSONL/JSON/CSV/text file, or 'benchmark:NAME'")
    field: str = "instruction"
    input_field: str | None = Field(None, description="optional field appended to the instruction as its input")
    where: dict[str, str | list[str]] | None = Field(
        None, description="keep only rows whose field (dotted path) equals the value or one of the values, "
        "e.g. {category: coding}")
    limit: int | None = Field(None, gt=0)


class Sampling(_Strict):
    temperature: float = Field(..., ge=0, le=2)
    max_tokens: int = Field(..., gt=0)


class CheckSettings(_Strict):
    """The filter check before a run: items whose right decision is known (docs/judging.md)."""

    enabled: bool = Field(True, description="check the filter at the start of a run; false skips it (the summary says so)")
    items: str | None = Field(None, description="JSONL of check items (id, instruction, answer, expect); "
                              "default: the bundled held-out split (60 items)")
    min_accuracy: float = Field(0.75, gt=0.5, le=1, description="below this, or a 95% lower bound <= 0.5, the run stops")


class JudgeSettings(_Strict):
    """The judge of Contrastive Filtering: scheme, sampling and calibration (see docs/judging.md)."""

    scheme: str = Field("pairwise-1-10", description="one of SCHEMES (" + ", ".join(SCHEMES) + "; "
                        "codeclm/judging/schemes.py describes each)")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0, description="default: the scheme's (" + ", ".join(
        f"{s.name}: {s.max_tokens}" for s in SCHEMES.values() if s.scores_with == "judge") + ")")
    check: CheckSettings = CheckSettings()

    @field_validator("scheme", mode="before")
    @classmethod
    def _known_scheme(cls, value: Any) -> Any:
        return one_of(value, SCHEMES)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        if isinstance(data, dict) and "calibration" in data:
            raise ValueError("calibration was renamed check (judging.check: {enabled, items, min_accuracy}); "
                             "its pairs are now items whose right decision is known, see docs/judging.md")
        return data


class CacheSpec(_Strict):
    """The persistent LLM-call cache: a rerun never pays twice, and a killed run resumes for free."""

    enabled: bool = True
    path: str | None = Field(None, description="sqlite file; default: the user cache dir (CODECLM_CACHE_DIR)")


class Ablation(_Strict):
    """The paper's ablation switches (Table 3): turn a component off to measure it."""

    metadata: bool = Field(True, description="false: instructions are generated from the seed instructions directly")
    self_rubrics: bool = True
    contrastive_filtering: bool = True

    @model_validator(mode="after")
    def _rubrics_need_metadata(self) -> "Ablation":
        if not self.metadata and self.self_rubrics:
            raise ValueError("Self-Rubrics are written per metadata: with metadata: false also set self_rubrics: false")
        return self


class SelfInstructSettings(_Strict):
    """Self-Instruct baseline (Wang et al., 2022): sample a seed pool, generate, drop near-duplicates."""

    num_instructions: int = Field(20, gt=0, description="new instructions to keep after filtering")
    seed_examples: int = Field(6, ge=1, description="seed instructions shown per prompt (paper: 6)")
    generated_examples: int = Field(2, ge=0, description="generated instructions shown per prompt (paper: 2)")
    new_per_prompt: int = Field(4, gt=0, description="instructions asked for per generation call")
    rouge_threshold: float = Field(0.7, gt=0, le=1, description="drop one whose ROUGE-L F1 with any pool instruction is above")
    max_rounds: int = Field(50, gt=0, description="generation calls at most")
    max_calls: int | None = Field(None, gt=0, description="LLM call budget (generation + answers), for equal-budget comparisons")


class EvolInstructSettings(_Strict):
    """Evol-Instruct baseline (WizardLM, Xu et al., 2023): in-depth and in-breadth evolution of seeds."""

    rounds: int = Field(2, ge=1, description="evolution rounds per seed (WizardLM: 4)")
    breadth_share: float = Field(0.2, ge=0, le=1, description="chance a round is in-breadth (WizardLM: 1 of 5 operations)")
    depth_methods: list[Literal["constraints", "deepen", "concretize", "reasoning"]] = Field(
        ["constraints", "deepen", "concretize", "reasoning"], min_length=1)
    max_calls: int | None = Field(None, gt=0, description="LLM call budget (evolutions + answers), for equal-budget comparisons")


class MetricWeights(_Strict):
    """How `codeclm optimize` weighs the parts of its metric (docs/optimize.md); normalized by their sum."""

    contrast: float = Field(0.5, ge=0, description="the filter's gap, scaled to [0, 1]: what the target cannot do yet")
    fit: float = Field(0.3, ge=0, description="the instruction re-encodes to metadata of the benchmark's distribution")
    validity: float = Field(0.2, ge=0, description="an instruction (not an answer), within length bounds, no near-duplicate")

    @model_validator(mode="after")
    def _some_weight(self) -> "MetricWeights":
        if self.contrast + self.fit + self.validity <= 0:
            raise ValueError("at least one weight must be > 0, e.g. {contrast: 0.5, fit: 0.3, validity: 0.2}")
        return self


class OptimizeSettings(_Strict):
    """`codeclm optimize`: tune steps against a benchmark the target will be judged on (docs/optimize.md)."""

    benchmark: str | None = Field(None, description="bundled name (vicuna, self_instruct) or a JSONL/JSON/CSV file; "
                                  "--benchmark overrides")
    split: float = Field(0.5, gt=0, lt=1, description="share of the benchmark's instructions in the optimization part; "
                         "the rest is held out for the before/after figures")
    train: int = Field(8, ge=1, description="training metadata the optimizer sees (encoded from the optimization part)")
    heldout: int = Field(6, ge=1, description="held-out instructions encoded for the before/after figures")
    fit_pool: int = Field(24, ge=1, description="optimization-part instructions encoded as the benchmark fit's reference")
    steps: list[Literal["decode", "rubrics", "improve"]] = Field(["decode"], min_length=1)
    optimizer: Literal["bootstrap", "mipro", "gepa"] = "bootstrap"
    demos: int = Field(3, ge=0, description="bootstrapped demos per step at most (bootstrap, mipro)")
    gepa_max_metric_calls: int = Field(24, ge=1, description="GEPA's budget: metric calls (one per example run)")
    weights: MetricWeights = MetricWeights()
    min_words: int = Field(4, ge=1, description="validity: an instruction has at least this many words")
    max_words: int = Field(150, ge=1, description="validity: and at most this many")
    demo_min_fit: float = Field(0.3, ge=0, le=1, description="a run becomes a demo only when each instruction's fit is >= this")
    protect: list[str] = Field(["vicuna", "self_instruct"], description="test sets (bundled names or files) that "
                               "generated instructions must not copy, besides the held-out part")
    bootstrap_samples: int = Field(1000, ge=100, description="resamples of the before/after confidence interval")

    @model_validator(mode="after")
    def _bounds(self) -> "OptimizeSettings":
        if self.min_words > self.max_words:
            raise ValueError(f"min_words {self.min_words} > max_words {self.max_words}")
        return self


class ProgramConfig(_Strict):
    name: str = "codeclm"
    program: str = Field("codeclm", description="which data program runs: one of PROGRAMS (" + ", ".join(PROGRAMS) + ")")
    prompts: str | None = Field(None, description="folder of the step templates, relative to this file; default: the "
                                "templates shipped with codeclm (`codeclm init DIR` writes a copy to edit)")
    models: Roles
    seeds: SeedsSpec
    output: str
    num_metadata: int = Field(200, gt=0, description="metadata after enlargement (paper: 200)")
    instructions_per_metadata: int = Field(2, gt=0)
    num_skills: int = Field(3, ge=1, le=3, description="skills per metadata (paper: up to 3)")
    num_rubrics: int = Field(4, ge=1, description="rubrics and actions per metadata (paper: 4)")
    max_iterations: int = Field(4, ge=1, description="Self-Rubrics iterations; 1 = the basic instruction")
    theta: float | None = Field(
        None, ge=0, description="Contrastive Filtering gap threshold on the judging scheme's scale; default the one "
        "calibrated for the target, else the scheme's ("
        + ", ".join(f"{s.name}: {s.threshold:g}" for s in SCHEMES.values()) + ")")
    seed: int = 0
    generation: Sampling = Sampling(temperature=0.7, max_tokens=512)
    answering: Sampling = Sampling(temperature=0.7, max_tokens=512)
    judging: JudgeSettings = JudgeSettings()
    max_attempts: int = Field(3, ge=1, description="tries per step when an answer does not parse")
    concurrency: int = Field(4, ge=1, description="items processed at once")
    cache: CacheSpec = CacheSpec()
    ablation: Ablation = Ablation()
    self_instruct: SelfInstructSettings | None = Field(None, description="settings of program: self_instruct")
    evol_instruct: EvolInstructSettings | None = Field(None, description="settings of program: evol_instruct")
    optimize: OptimizeSettings = OptimizeSettings()
    records: int | None = Field(None, gt=0, description="keep encoding, enlarging and decoding in rounds until this many "
                                "records are kept, then stop (docs/sizing.md); num_metadata then only sizes the first round")
    per_use_case: int | None = Field(None, gt=0, description="with records: at most this many kept records per use case; "
                                     "new instructions go where yield is still missing")
    per_skill: int | None = Field(None, gt=0, description="with records: at most this many kept records per skill")
    max_usd: float | None = Field(None, gt=0, description="stop before a call that could take spending past this (USD, "
                                  "from the models' price_in_per_1m / price_out_per_1m; local models cost 0)")
    max_calls: int | None = Field(None, gt=0, description="stop before the call that would pass this many paid calls")
    max_tokens: int | None = Field(None, gt=0, description="stop before a call that could pass this many tokens (in + out)")
    max_seconds: float | None = Field(None, gt=0, description="make no new call after this many seconds of the run")

    theta_source: str = Field("program", exclude=True, description="where theta came from: program, calibrated (for "
                              "this target, calibrations.json), scheme default, or uncalibrated")
    base_dir: Path = Field(Path("."), exclude=True, description="directory the YAML was read from")
    source: str = Field("program", exclude=True, description="the YAML file, for error messages")
    bundled: bool = Field(False, exclude=True, description="a program shipped with codeclm, loaded by name: what it "
                          "writes (output, a tuned file) goes to the current folder, not the package's")

    @field_validator("program", mode="before")
    @classmethod
    def _known_program(cls, value: Any) -> Any:
        return one_of(value, PROGRAMS)

    @model_validator(mode="after")
    def _target_scoring_knows_the_targets_format(self) -> "ProgramConfig":
        target = self.models.target
        if SCHEMES[self.judging.scheme].scores_with == "target" and not target.local and not target.chat_template:
            raise ValueError(f"judging.scheme {self.judging.scheme} scores answers as the target reads them: set "
                             "models.target.chat_template (chatml, llama3, mistral, gemma, phi3, or the model's Jinja chat template)")
        return self

    @model_validator(mode="after")
    def _theta_on_scheme_scale(self) -> "ProgramConfig":
        scheme = SCHEMES[self.judging.scheme]
        if self.theta is None:
            self.theta, self.theta_source = scheme.threshold, "scheme default"
        elif self.theta >= scheme.gap_max:
            raise ValueError(
                f"theta {self.theta} is off the {scheme.name} scale (|gap| <= {scheme.gap_max:g}): nothing could be kept; "
                f"use e.g. theta: {scheme.threshold:g}, or remove theta for the scheme's default"
            )
        return self

    @model_validator(mode="after")
    def _quotas_need_records(self) -> "ProgramConfig":
        if (self.per_use_case or self.per_skill) and not self.records:
            raise ValueError("per_use_case / per_skill are quotas of a records: N run; set records (e.g. records: 500)")
        if self.records and not self.ablation.metadata:
            raise ValueError("records: N fills metadata cells; with ablation.metadata: false size the run with seeds instead")
        if self.records and self.program != "codeclm":
            raise ValueError(f"records: N fills metadata cells of program codeclm; for program {self.program} "
                             f"size the run with its own settings and cap it with max_calls / max_usd")
        return self

    def caps(self):
        """The run's spending caps (codeclm.engine.caps.Caps)."""
        from codeclm.engine.caps import Caps

        return Caps(self.max_usd, self.max_calls, self.max_tokens, self.max_seconds)

    def resolve(self, path: str) -> Path:
        """Paths in a program file are relative to that file."""
        if path.startswith("benchmark:"):
            return Path(path)
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    def call_cache_path(self) -> Path | None:
        """The call cache's sqlite file: `cache.path` (relative to this file), else calls.sqlite in the user cache
        folder (codeclm.local.cache_dir); None when the cache is off. Every opener of a program asks here."""
        if not self.cache.enabled:
            return None
        if self.cache.path:
            return self.resolve(self.cache.path)
        from codeclm.local import cache_dir  # pure Python: the user cache folder

        return cache_dir() / "calls.sqlite"

    def prompt_library(self) -> PromptLibrary:
        """The program's templates (`prompts:`), rendered with its variables."""
        return PromptLibrary(self.prompts_dir(), self.template_variables())

    def prompts_dir(self) -> Path:
        """`prompts:` relative to the program file, or the templates shipped with codeclm."""
        return self.resolve(self.prompts) if self.prompts else data_dir("prompts")

    def template_variables(self) -> dict[str, Any]:
        """What prompts/*.jinja may use."""
        return {
            "num_skills": self.num_skills,
            "num_instructions": self.instructions_per_metadata,
            "num_rubrics": self.num_rubrics,
        }


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Apply `a.b=value` overrides; values are parsed as YAML (so 3, true, null work)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set num_metadata=10")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} in {source} is not a mapping")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return data


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed beside the last part of `loc` (for a "did you mean"), following nested settings models."""
    model: Any = ProgramConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        candidates += [arg for c in candidates for arg in typing.get_args(c)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(first["loc"][-1]), _known_keys(first["loc"]), n=1)
        message = f"unknown key; did you mean {close[0]}?" if close else "unknown key; remove it (programs/codeclm.yaml shows every setting)"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{source}: {where}: {message}{more}"


def load_config(path: str | Path, overrides: list[str] | None = None) -> ProgramConfig:
    """Read and validate a program YAML, or a bundled program by name (`codeclm`, `self_instruct`, ...: see
    codeclm.prompting.bundled); raise ConfigError naming the file and key.

    A bundled program's `output` is relative to the current folder (`data/<name>.jsonl` unless overridden)."""
    path, is_bundled = find_program(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the program file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of program settings at the top level")
    if is_bundled and isinstance(data.get("output"), str):
        data["output"] = f"data/{Path(data['output']).name}"
    data = apply_overrides(data, list(overrides or []), str(path))
    try:
        config = ProgramConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    config.base_dir = path.resolve().parent
    config.source = str(path)
    if is_bundled:
        config.bundled = True
        config.output = str(Path(config.output).expanduser().absolute())  # the current folder, not the package's
    return with_calibrated_theta(config)


def with_calibrated_theta(config: ProgramConfig) -> ProgramConfig:
    """A program without theta takes the one calibrated for its target and scheme (calibrations.json beside it);
    under a scheme whose scale moves with the target, none found marks theta "uncalibrated" (a run refuses)."""
    if config.theta_source != "scheme default":
        return config
    found = find_calibration(record_places(config), config.models.target.label, config.judging.scheme)
    if found is not None:
        config.theta, config.theta_source = found.theta, f"calibrated for {found.target} ({found.fit_on}, {found.date})"
    elif SCHEMES[config.judging.scheme].needs_calibration:
        config.theta_source = "uncalibrated"
    return config
