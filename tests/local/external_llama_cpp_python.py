"""Run llama-cpp-python's OWN server (``python -m llama_cpp.server``), without codeclm's echo patch.

Usage: ``python -m external_llama_cpp_python [llama_cpp.server args...]``. The only change to the
library is codeclm's AMX work-around (``codeclm.local.server.amx.avoid_amx_crash``): on AMX CPUs a
natively built llama-cpp-python 0.3.36 segfaults on its first multi-token batch, as it does on this
machine. Its ``/v1/completions`` echo path is the library's own.
"""

import runpy
import sys

from codeclm.local.server.amx import avoid_amx_crash

if __name__ == "__main__":
    avoid_amx_crash(None)
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
