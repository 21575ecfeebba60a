"""The user's side of the embedded local models: pinned weights, and the server processes they run in.

``catalog`` names the pinned GGUF files, ``weights`` assembles and verifies them in the cache,
``process`` starts, health-checks and stops one server process (``LocalServer``), ``running``
keeps the servers ``codeclm serve`` holds up for ``codeclm run`` to reuse, ``net`` has the
loopback helpers. Nothing here imports llama_cpp: what runs inside the server process is
:mod:`codeclm.local.server`.
"""
