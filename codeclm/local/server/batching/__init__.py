"""Side-by-side generation of plain chat requests in ``llama_cpp.server`` (runs in the server process).

llama-cpp-python 0.3.36 evaluates one request at a time. On a CPU one decoding step over several
sequences costs little more than a step over one, because the weights are read once per step, so
answers generated together come out faster than one after another (measured: docs/speed.md,
"answers side by side").

``install(slots)`` gives llama.cpp's context room for the batch and puts a middleware in front of
the server. A chat request that asks for text only (no tools, response format, grammar, logit bias
or logprobs) joins the running batch: up to ``slots`` sequences, each admitted between steps when
the context has room for its prompt and ``max_tokens``. Every other request takes
llama-cpp-python's own path, which waits while a batch runs (the two share the server's lock). Each
prefill and step takes the machine-wide turn (:mod:`codeclm.local.server.turns`). Sampling is
llama.cpp's sampler chain with the request's parameters and the server's defaults (top_k 40, top_p
0.95, min_p 0.05, repeat penalty 1.1 over 64 tokens), seeded per request. Replies have the
server's shapes, with usage and timings (each sequence's share of the step time), streamed or not;
a client that disconnects frees its slot at the next step.

Four parts: ``http_layer`` (which requests join, and their replies), ``scheduler`` (the queue and
the server's lock), ``engine`` (a batch on llama.cpp's context: prefixes, prefill, steps) and
``sequence`` (one request's prompt, stop strings, budget and sampler); this module patches the
server to use them.

Outputs are not bit-identical to the one-at-a-time path: the sum order inside a step depends on
which sequences share it, so a near tie can break the other way. ``concurrency: 1`` sends one
request at a time, which keeps a fresh-cache rerun bit-reproducible.
"""

from __future__ import annotations

from codeclm.local.server.batching.http_layer import BatchingMiddleware
from codeclm.local.server.batching.scheduler import Batcher


def install(slots: int) -> None:
    """Give the context room for ``slots`` side-by-side sequences and batch the server's plain chat requests."""
    import llama_cpp.llama_cpp as lib
    import llama_cpp.server.app as server_app

    default_params = lib.llama_context_default_params

    def params():
        p = default_params()
        p.n_seq_max = slots + 1  # sequence 0 stays llama-cpp-python's own
        p.kv_unified = True  # one pool of context cells shared by all sequences (else each gets n_ctx / n_seq_max)
        return p

    lib.llama_context_default_params = params
    original_create_app = server_app.create_app

    def create_app(*args, **kwargs):
        app = original_create_app(*args, **kwargs)
        app.add_middleware(BatchingMiddleware, batcher=Batcher(slots, server_app))
        return app

    server_app.create_app = create_app
