"""What runs inside an embedded server process: llama-cpp-python's ``llama_cpp.server`` with codeclm's patches.

The launcher (:mod:`codeclm.local.launcher`) starts ``python -m codeclm.local.server PARENT_PID
[llama_cpp.server args...]``; ``__main__`` checks the llama-cpp-python version (``version``),
works around the AMX crash (``amx``, ``repack``), installs the patches and runs the library's
server. Each patch replaces llama-cpp-python 0.3.36 internals:

- ``batching``: plain chat requests generated side by side (scheduler, engine, HTTP layer);
- ``echo``: prompt log-probabilities in one forward pass;
- ``prompt_cache``: saved prompt states without score copies;
- ``usage``: usage and llama.cpp timings on every chat reply, streamed ones too;
- ``turns``: one local server computes at a time on this machine.
"""
