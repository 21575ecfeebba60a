"""Run ``llama_cpp.server`` in this process, exiting as soon as the parent process goes away.

Usage: ``python -m codeclm.local._child PARENT_PID [llama_cpp.server args...]``. The guard keeps a
server from outliving a parent that was SIGKILLed (where no atexit hook or ``finally`` runs).
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
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
