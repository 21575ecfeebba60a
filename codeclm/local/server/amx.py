"""Keep llama.cpp off its AMX kernels, which crash llama-cpp-python 0.3.36 built natively on AMX CPUs.

On AMX CPUs a natively built llama-cpp-python 0.3.36 segfaults in ``ggml_backend_amx_mul_mat`` on
any multi-token batch. ``avoid_amx_crash`` turns off llama.cpp's extra weight buffers when the
build has AMX kernels (``CODECLM_LLAMA_EXTRA_BUFTS=1`` keeps them) and puts the repacked weight
layout back without the AMX buffer (:mod:`codeclm.local.server.repack`; ``CODECLM_LLAMA_REPACK=0``
leaves it out).
"""

from __future__ import annotations

import os
import sys


def avoid_amx_crash(model_path: str | None) -> None:
    """Patch ``llama_model_default_params`` so no AMX buffer is used; one line on stderr says what was kept."""
    import llama_cpp.llama_cpp as lib

    forced = os.environ.get("CODECLM_LLAMA_EXTRA_BUFTS")
    info = lib.llama_print_system_info().decode(errors="replace")
    if forced == "1" or (forced != "0" and "AMX_INT8 = 1" not in info):
        return
    repacked = None
    if model_path and os.environ.get("CODECLM_LLAMA_REPACK", "1") != "0":
        from codeclm.local.server import repack

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
