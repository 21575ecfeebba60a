"""Run ``llama_cpp.server`` in this process, exiting as soon as the parent process goes away.

Usage: ``python -m codeclm.local._child PARENT_PID [llama_cpp.server args...]``. The guard keeps a
server from outliving a parent that was SIGKILLed (where no atexit hook or ``finally`` runs).

It also turns off llama.cpp's extra (repacked) weight buffers when the build has AMX kernels:
on AMX CPUs, llama-cpp-python 0.3.36 built natively segfaults in ``ggml_backend_amx_mul_mat``
on any multi-token batch. Set ``CODECLM_LLAMA_EXTRA_BUFTS=1`` to keep them. The repacked weight
layout is put back without the AMX buffer (:mod:`codeclm.local.repack`; ``CODECLM_LLAMA_REPACK=0``
leaves it out).

With CODECLM_LOCAL_SLOTS > 1 it generates plain chat requests side by side
(:mod:`codeclm.local.batching`); with CODECLM_COMPUTE_LOCK set, every evaluation takes a
machine-wide turn (:mod:`codeclm.local.turns`). And it routes prompt-scoring requests (``echo`` + ``logprobs``) to :mod:`codeclm.local.echo`, and reports
usage and reused prefix tokens on every chat reply, streamed ones too (:mod:`codeclm.local.usage`).
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


def _avoid_amx_crash(model_path: str | None) -> None:
    import llama_cpp.llama_cpp as lib

    forced = os.environ.get("CODECLM_LLAMA_EXTRA_BUFTS")
    info = lib.llama_print_system_info().decode(errors="replace")
    if forced == "1" or (forced != "0" and "AMX_INT8 = 1" not in info):
        return
    repacked = None
    if model_path and os.environ.get("CODECLM_LLAMA_REPACK", "1") != "0":
        from codeclm.local import repack

        repacked = repack.overrides(model_path)  # the repacked layout without the AMX buffer
    default_params = lib.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = False
        if repacked is not None:
            p.tensor_buft_overrides = repacked
        return p

    lib.llama_model_default_params = params
    print(f"codeclm: AMX build detected; extra weight buffers off, "
          f"{'repacked weights kept (CODECLM_LLAMA_REPACK=0 drops them)' if repacked else 'no repacked weights'} "
          f"(CODECLM_LLAMA_EXTRA_BUFTS=1 keeps all)", file=sys.stderr, flush=True)


def main() -> None:
    parent = int(sys.argv[1])
    if os.getppid() != parent:
        sys.exit(0)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-guard").start()
    args = sys.argv[2:]
    _avoid_amx_crash(args[args.index("--model") + 1] if "--model" in args else None)
    from codeclm.local import batching, echo, prompt_cache, turns, usage

    slots = int(os.environ.get("CODECLM_LOCAL_SLOTS", "1"))
    if slots > 1:
        batching.install(slots)  # text-only chat requests share decoding steps
    echo.install()  # prompt log-probabilities (echo) at the model's speed, without logits_all
    prompt_cache.install()  # saved prompt states without 300 MB score copies
    usage.install()  # usage (streamed replies too) and reused prefix tokens from llama.cpp's counters
    if os.environ.get("CODECLM_COMPUTE_LOCK"):
        turns.install(os.environ["CODECLM_COMPUTE_LOCK"])  # one local server computes at a time on this machine
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
