"""Run ``llama_cpp.server`` with codeclm's patches in this process, exiting as soon as the parent goes away.

Usage: ``python -m codeclm.local.server PARENT_PID [llama_cpp.server args...]``. The guard keeps a
server from outliving a parent that was SIGKILLed (where no atexit hook or ``finally`` runs).

Before anything loads, it refuses a llama-cpp-python other than the one the patches are written
for (:mod:`codeclm.local.server.version`: one line, exit code 2) and keeps llama.cpp off its AMX
kernels (:mod:`codeclm.local.server.amx`). With CODECLM_LOCAL_SLOTS > 1 it generates plain chat
requests side by side (:mod:`codeclm.local.server.batching`); with CODECLM_COMPUTE_LOCK set, every
evaluation takes a machine-wide turn (:mod:`codeclm.local.server.turns`). It routes prompt-scoring
requests (``echo`` + ``logprobs``) to :mod:`codeclm.local.server.echo`, saves prompt states without
score copies (:mod:`codeclm.local.server.prompt_cache`), and reports usage and timings on every
chat reply, streamed ones too (:mod:`codeclm.local.server.usage`).
"""

import os
import runpy
import sys
import threading
import time


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    parent = int(sys.argv[1])
    if os.getppid() != parent:
        sys.exit(0)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-guard").start()
    import llama_cpp

    from codeclm.local.server import version

    wrong = version.mismatch(llama_cpp.__version__)
    if wrong:
        print(wrong, file=sys.stderr, flush=True)
        sys.exit(2)
    from codeclm.local.server.amx import avoid_amx_crash

    args = sys.argv[2:]
    avoid_amx_crash(args[args.index("--model") + 1] if "--model" in args else None)
    from codeclm.local.server import batching, echo, prompt_cache, turns, usage

    slots = int(os.environ.get("CODECLM_LOCAL_SLOTS", "1"))
    if slots > 1:
        batching.install(slots)  # text-only chat requests share decoding steps
    echo.install()  # prompt log-probabilities (echo) at the model's speed, without logits_all
    prompt_cache.install()  # saved prompt states without copies of the score rows
    usage.install()  # usage (streamed replies too) and reused prefix tokens from llama.cpp's counters
    if os.environ.get("CODECLM_COMPUTE_LOCK"):
        turns.install(os.environ["CODECLM_COMPUTE_LOCK"])  # one local server computes at a time on this machine
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
