"""Two small run outputs made by replaying the shipped program's cassette (tests/test_pipeline_cassette.py).

"codeclm": the recorded settings (every item kept at iteration 1). "strict": the same replies under a
higher theta and one iteration, so the filter drops the items whose gap is below it: both outputs come
from the same recorded calls, no call is new.
"""

from __future__ import annotations

from pathlib import Path

import vcr

from codeclm.models.config import load_config
from codeclm.run import run

ROOT = Path(__file__).resolve().parents[2]
CASSETTE = ROOT / "cassettes" / "test_pipeline_cassette" / "test_codeclm_program_end_to_end.yaml"
STRONG, TARGET = "qwen2.5-coder-1.5b-instruct", "smollm2-135m-instruct"
OVERRIDES = ["seeds.limit=2", "num_metadata=2", "instructions_per_metadata=2", "max_iterations=2", "judging.check.enabled=false",
             "theta=1.0",  # the scheme's default, set: a calibration for the target must not change what these replay
             f"models.strong={{model: {STRONG}, api_base: 'http://127.0.0.1:9/v1', max_tries: 1}}",
             f"models.target={{model: {TARGET}, api_base: 'http://127.0.0.1:9/v1', max_tries: 1, chat_template: chatml}}"]
STRICT = ["theta=1.8", "max_iterations=1"]


def make_runs(folder: Path) -> dict[str, Path]:
    """Replay the cassette into `folder`/codeclm.jsonl and `folder`/strict.jsonl (with their dropped files and manifests)."""
    replay = vcr.VCR(record_mode="none", match_on=["method", "path", "body"], decode_compressed_response=True)
    outputs = {}
    for name, extra in (("codeclm", []), ("strict", STRICT)):
        out = folder / f"{name}.jsonl"
        config = load_config(ROOT / "programs" / "codeclm.yaml", OVERRIDES + extra + [f"cache.path={folder / name}.sqlite"])
        with replay.use_cassette(str(CASSETTE), allow_playback_repeats=False):
            run(config, output=str(out))
        outputs[name] = out
    return outputs
