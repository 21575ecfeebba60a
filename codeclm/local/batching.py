"""Side-by-side generation of plain chat requests in ``llama_cpp.server`` (runs in the server process).

llama-cpp-python 0.3.36 evaluates one request at a time. On a CPU one decoding step over several
sequences costs little more than a step over one, because the weights are read once per step, so
answers generated together come out faster than one after another (figures: docs/speed.md).

``install(slots)`` puts a middleware in front of the server. A chat request that asks for text only
(no tools, response format, grammar, logit bias or logprobs) joins the running batch: up to ``slots``
sequences, each admitted between steps when the context has room for its prompt and ``max_tokens``.
Every other request takes llama-cpp-python's own path, which waits while a batch runs (the two share
the server's lock). Each prefill and step takes the machine-wide turn (codeclm.local.turns). Sampling is
llama.cpp's sampler chain with the request's parameters and the
server's defaults (top_k 40, top_p 0.95, min_p 0.05, repeat penalty 1.1 over 64 tokens), seeded per
request. Replies have the server's shapes, with usage and timings (each sequence's share of the step
time), streamed or not; a client that disconnects frees its slot at the next step.

Outputs are not bit-identical to the one-at-a-time path: the sum order inside a step depends on
which sequences share it, so a near tie can break the other way. ``concurrency: 1`` sends one
request at a time, which keeps a fresh-cache rerun bit-reproducible.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from codeclm.local.turns import turn
from codeclm.local.usage import usage_from

CHAT_PATH = "/v1/chat/completions"
_NOT_TEXT_ONLY = ("tools", "functions", "tool_choice", "function_call", "logit_bias", "grammar", "logprobs",
                  "top_logprobs", "mirostat_mode", "min_tokens")
_SERVER_DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05, "top_k": 40, "repeat_penalty": 1.1,
                    "frequency_penalty": 0.0, "presence_penalty": 0.0}


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


def text_only(body: Any) -> bool:
    """A chat request that needs nothing but sampled text, one choice: it can share a batch."""
    if not isinstance(body, dict) or any(body.get(name) for name in _NOT_TEXT_ONLY):
        return False
    if body.get("response_format") not in (None, {"type": "text"}) or body.get("n") not in (None, 1):
        return False
    messages = body.get("messages")
    return isinstance(messages, list) and bool(messages) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        for m in messages)


@dataclass
class Sequence:
    """One request in the batch: its prompt, sampler and position, and what it produced."""

    body: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Event = field(default_factory=asyncio.Event)
    prompt: list[int] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    max_tokens: int = 0
    out: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    error: tuple[int, str] | None = None
    cancelled: bool = False
    seq_id: int = 0
    pos: int = 0
    sampler: Any = None
    reused: int = 0  # prompt tokens shared from a prefix already in the context
    prompt_ms: float = 0.0
    predicted_ms: float = 0.0

    def finish(self, reason: str | None = None, error: tuple[int, str] | None = None) -> None:
        self.finish_reason, self.error = reason, error
        self.loop.call_soon_threadsafe(self.done.set)

    @property
    def reserved(self) -> int:
        return len(self.prompt) + self.max_tokens


class Batcher:
    """Runs side-by-side sequences on the server's model while holding the server's lock."""

    def __init__(self, slots: int, server_app):
        self.slots, self.server_app = slots, server_app
        self.waiting: deque[Sequence] = deque()
        self.running = False
        self._formatter = None

    async def submit(self, seq: Sequence) -> None:
        self.waiting.append(seq)
        if not self.running:
            self.running = True
            asyncio.ensure_future(self._lead())

    async def _lead(self) -> None:
        """Take the server's lock (as llama-cpp-python's own requests do) and run batches until none wait."""
        import anyio

        outer, inner = self.server_app.llama_outer_lock, self.server_app.llama_inner_lock
        try:
            while self.waiting:
                await outer.acquire()
                try:
                    await inner.acquire()
                finally:
                    outer.release()
                try:
                    await anyio.to_thread.run_sync(self._run)
                finally:
                    inner.release()
        finally:
            self.running = False

    def _run(self) -> None:
        """Admit waiting requests between steps and step every active sequence until none is left."""
        run = _Run(self.server_app._llama_proxy(None), self.slots)
        try:
            while True:
                while self.waiting and run.free:
                    seq = self.waiting[0]
                    if seq.cancelled:
                        self.waiting.popleft()
                        continue
                    if not seq.prompt:
                        error = self._prepare(run.llama, seq)
                        if error:
                            self.waiting.popleft()
                            seq.finish(error=error)
                            continue
                    if not run.has_room(seq):
                        break
                    run.admit(self.waiting.popleft())
                run.retire_finished()
                if not run.active:
                    if self.waiting and run.free:
                        continue
                    return
                run.step()
        except Exception as exc:  # the model failed: every request taken or waiting gets the error, none hangs
            print(f"codeclm_batch: batched generation failed: {exc!r}", file=sys.stderr, flush=True)
            while self.waiting:
                run.active.append(self.waiting.popleft())
            for seq in run.active:
                seq.finish(error=(500, f"batched generation failed: {exc}"))
        finally:
            run.close()

    def _prepare(self, llama, seq: Sequence) -> tuple[int, str] | None:
        """Prompt tokens, stop strings, token budget and sampler of a request; an error instead when it cannot run."""
        from llama_cpp import llama_chat_format

        if self._formatter is None:
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                return 400, "this model has no chat template in its metadata"
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
        body = seq.body
        formatted = self._formatter(messages=body["messages"])
        seq.prompt = llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = body.get("stop") or []
        seq.stop = [s for s in ([stop] if isinstance(stop, str) else list(stop)) + _as_list(formatted.stop) if s]
        window = llama._n_ctx
        seq.max_tokens = int(body.get("max_tokens") or 0) or window - len(seq.prompt)
        if len(seq.prompt) + seq.max_tokens > window:
            return 400, f"Requested tokens ({len(seq.prompt) + seq.max_tokens}) exceed context window of {window}"
        seq.sampler = _sampler(llama, {**_SERVER_DEFAULTS, **{k: v for k, v in body.items() if v is not None}})
        return None


class _Run:
    """One batch on the model, between taking the server's lock and giving it back.

    Sequence ids 1..slots are the batch's (0 stays llama-cpp-python's own). A new sequence starts from
    the longest prompt prefix already in the context (llama-cpp-python's last prompt, a running or a
    finished sequence of this run), shared by reference, so a step's long instructions are read once.
    """

    def __init__(self, llama, slots: int):
        import llama_cpp.llama_cpp as lib

        self.lib, self.llama = lib, llama
        self.ctx, self.mem = llama._ctx.ctx, lib.llama_get_memory(llama._ctx.ctx)
        self.vocab = lib.llama_model_get_vocab(llama._model.model)
        self.n_cells = lib.llama_n_ctx(self.ctx)
        self.slots = slots
        self.batch = lib.llama_batch_init(max(llama.n_batch, slots), 0, 1)
        self.active: list[Sequence] = []
        self.free = list(range(slots, 0, -1))
        self.held: dict[int, list[int]] = {}  # finished sequences' tokens, still in the context as prefixes
        self.prompt_ms = self.generated_ms = 0.0
        self.prompt_n = self.reused_n = self.generated_n = self.admitted = 0

    def has_room(self, seq: Sequence) -> bool:
        return not self.active or sum(s.reserved for s in self.active) + seq.reserved <= self.n_cells

    def admit(self, seq: Sequence) -> None:
        seq.seq_id = self.free.pop()
        started = time.perf_counter()
        with turn():
            self._start_from_prefix(seq)
            self._prefill(seq)
        seq.prompt_ms = (time.perf_counter() - started) * 1000
        self.prompt_ms += seq.prompt_ms
        self.prompt_n += len(seq.prompt) - seq.reused
        self.reused_n += seq.reused
        self.admitted += 1
        self.active.append(seq)
        self._after_token(seq)

    def retire_finished(self) -> None:
        for seq in [s for s in self.active if s.finish_reason or s.cancelled]:
            self.active.remove(seq)
            self.free.append(seq.seq_id)
            self.held.pop(seq.seq_id, None)
            self.held[seq.seq_id] = seq.prompt + seq.out[:-1]  # what its cells hold (last retired last)

    def step(self) -> None:
        started = time.perf_counter()
        batch = self.batch
        batch.n_tokens = len(self.active)
        for i, seq in enumerate(self.active):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = seq.out[-1], seq.pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq.seq_id, True
            seq.pos += 1
        with turn():
            self._decode("a batched step")
            for i, seq in enumerate(self.active):
                seq.out.append(seq.sampler.sample(self.llama._ctx, i))
        step_ms = (time.perf_counter() - started) * 1000
        self.generated_ms += step_ms
        self.generated_n += len(self.active)
        for seq in self.active:
            seq.predicted_ms += step_ms / len(self.active)
            self._after_token(seq)

    def close(self) -> None:
        """Hand the last finished sequence to llama-cpp-python as its sequence 0 (its prefix stays warm for
        the next request, batched or not) and free the batch's sequence ids."""
        lib = self.lib
        if self.held:
            seq_id, tokens = list(self.held.items())[-1]
            lib.llama_memory_seq_rm(self.mem, 0, -1, -1)
            lib.llama_memory_seq_cp(self.mem, seq_id, 0, 0, len(tokens))
            self.llama.input_ids[: len(tokens)] = tokens
            self.llama.n_tokens = len(tokens)
        for seq_id in range(1, self.slots + 1):
            lib.llama_memory_seq_rm(self.mem, seq_id, -1, -1)
        lib.llama_batch_free(self.batch)
        if self.admitted:  # the lines llama.cpp prints per request, for benchmarks/pipeline_speed.py
            print(f"codeclm_batch: {self.reused_n} prefix-match hit\n"
                  f"codeclm_batch: prompt eval time = {self.prompt_ms:10.2f} ms / {self.prompt_n:5d} tokens\n"
                  f"codeclm_batch:        eval time = {self.generated_ms:10.2f} ms / {self.generated_n:5d} runs "
                  f"({self.admitted} requests side by side)", file=sys.stderr, flush=True)

    def _start_from_prefix(self, seq: Sequence) -> None:
        sources = dict(self.held)
        if self.llama.n_tokens:
            sources[0] = self.llama.input_ids[: self.llama.n_tokens].tolist()
        sources.update({s.seq_id: s.prompt + s.out[:-1] for s in self.active})
        self.held.pop(seq.seq_id, None)
        self.lib.llama_memory_seq_rm(self.mem, seq.seq_id, -1, -1)
        best_id, best = 0, 0
        for seq_id, tokens in sources.items():
            n = self.llama.longest_token_prefix(tokens, seq.prompt)
            if n > best:
                best_id, best = seq_id, n
        best = min(best, len(seq.prompt) - 1)  # at least one token is read, for the first logits
        if best > 0:
            self.lib.llama_memory_seq_cp(self.mem, best_id, seq.seq_id, 0, best)
        seq.pos = seq.reused = best

    def _prefill(self, seq: Sequence) -> None:
        batch, n_batch, rest = self.batch, self.llama.n_batch, seq.prompt[seq.pos:]
        for start in range(0, len(rest), n_batch):
            chunk = rest[start:start + n_batch]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, seq.pos + start + i, 1
                batch.seq_id[i][0], batch.logits[i] = seq.seq_id, start + i == len(rest) - 1
            self._decode("reading a prompt")
        seq.pos = len(seq.prompt)
        seq.out.append(seq.sampler.sample(self.llama._ctx, (len(rest) - 1) % n_batch))

    def _decode(self, what: str) -> None:
        """llama_decode; when the context is full, drop the finished sequences kept as prefixes (and
        llama-cpp-python's last prompt) and try once more."""
        result = self.lib.llama_decode(self.ctx, self.batch)
        if result == 1 and (self.held or self.llama.n_tokens):
            for seq_id in self.held:
                self.lib.llama_memory_seq_rm(self.mem, seq_id, -1, -1)
            self.held.clear()
            self.lib.llama_memory_seq_rm(self.mem, 0, -1, -1)
            self.llama.n_tokens = 0
            result = self.lib.llama_decode(self.ctx, self.batch)
        if result != 0:
            raise RuntimeError(f"llama_decode returned {result} while {what}")

    def _after_token(self, seq: Sequence) -> None:
        """Finish the sequence on an end-of-generation token, a stop string or its token budget."""
        if seq.cancelled:
            return
        if self.lib.llama_vocab_is_eog(self.vocab, seq.out[-1]):
            seq.out.pop()
            seq.text = _text(self.llama, seq.out)
            seq.finish("stop")
            return
        text = _text(self.llama, seq.out)
        hits = [text.find(s) for s in seq.stop if s in text]
        if hits:
            seq.text = text[:min(hits)]
            seq.finish("stop")
        elif len(seq.out) >= seq.max_tokens:
            seq.text = text
            seq.finish("length")


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _text(llama, tokens: list[int]) -> str:
    return llama.detokenize(tokens).decode("utf-8", errors="ignore")


def _sampler(llama, p: dict[str, Any]):
    """llama-cpp-python's sampler chain for these parameters (Llama._init_sampler, without grammar or mirostat)."""
    from llama_cpp import _internals

    sampler = _internals.LlamaSampler()
    sampler.add_penalties(n_vocab=llama._n_vocab, penalty_last_n=llama.last_n_tokens_size,
                          penalty_repeat=float(p["repeat_penalty"]), penalty_freq=float(p["frequency_penalty"]),
                          penalty_present=float(p["presence_penalty"]))
    temperature = float(p["temperature"])
    seed = p["seed"] & 0xFFFFFFFF if isinstance(p.get("seed"), int) else random.getrandbits(32)
    if temperature < 0:
        sampler.add_dist(seed)
    elif temperature == 0:
        sampler.add_greedy()
    else:
        sampler.add_top_k(int(p["top_k"]))
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(float(p["top_p"]), 1)
        sampler.add_min_p(float(p["min_p"]), 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
    return sampler


class BatchingMiddleware:
    """ASGI: text-only chat requests go to the batcher; everything else to llama-cpp-python's app."""

    def __init__(self, app, batcher: Batcher):
        self.app, self.batcher = app, batcher

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != CHAT_PATH:
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not text_only(body):
            return await self.app(scope, _replay(raw, receive), send)
        seq = Sequence(body=body, loop=asyncio.get_running_loop())
        await self.batcher.submit(seq)
        watcher = asyncio.ensure_future(_watch_disconnect(receive, seq))
        try:
            if body.get("stream"):
                await _stream(send, seq, body)
            else:
                await seq.done.wait()
                if not seq.cancelled:
                    await _send_json(send, *_reply(seq, body))
        except OSError:  # the client went away while we wrote
            seq.cancelled = True
        finally:
            watcher.cancel()


def _replay(raw: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _watch_disconnect(receive, seq: Sequence) -> None:
    """A client that goes away frees its slot at the next step, and its handler stops waiting."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            seq.cancelled = True
            seq.done.set()
            return


def _reply(seq: Sequence, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if seq.error:
        status, message = seq.error
        return status, {"error": {"message": message, "type": "invalid_request_error" if status == 400 else "server_error",
                                  "code": status}}
    return 200, {"id": f"chatcmpl-{uuid.uuid4()}", "object": "chat.completion", "created": int(time.time()),
                 "model": body.get("model") or "", "choices": [{"index": 0, "message": {"role": "assistant",
                 "content": seq.text}, "logprobs": None, "finish_reason": seq.finish_reason}],
                 "usage": _usage(seq), "timings": _timings(seq)}


def _usage(seq: Sequence) -> dict[str, Any]:
    return usage_from(_timings(seq), len(seq.prompt), len(seq.out))


def _timings(seq: Sequence) -> dict[str, Any]:
    return {"prompt_n": len(seq.prompt) - seq.reused, "prompt_ms": round(seq.prompt_ms, 2), "predicted_n": len(seq.out),
            "predicted_ms": round(seq.predicted_ms, 2), "cache_n": seq.reused}


async def _send_json(send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def _stream(send, seq: Sequence, body: dict[str, Any]) -> None:
    """Server-sent events: the role at once (the client knows the request is taken), then the text,
    the finish reason, usage and timings in one last chunk (OpenAI's include_usage shape), [DONE]."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    head = {"id": f"chatcmpl-{uuid.uuid4()}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model") or ""}

    async def event(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})

    await event({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
    await seq.done.wait()
    if seq.cancelled:
        return
    if seq.error:
        await event(_reply(seq, body)[1])
    else:
        await event({**head, "choices": [{"index": 0, "delta": {"content": seq.text}, "finish_reason": None}]})
        await event({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": seq.finish_reason}]})
        await event({**head, "choices": [], "usage": _usage(seq), "timings": _timings(seq)})
    await event("[DONE]")
    await send({"type": "http.response.body", "body": b"", "more_body": False})
