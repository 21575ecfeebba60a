"""deferred_cache(): replies stay out of the cache until committed; nested blocks; worker threads.

Runs against: the stub OpenAI-compatible server tests/engine/fake_openai.py on 127.0.0.1 (a test fake, not a model).
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import dspy
import pytest
from engine_helpers import chat

from codeclm.engine import deferred_cache

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM.forward:DeprecationWarning")


def test_outside_a_block_puts_go_to_disk_at_once(make_lm, cache):
    chat(make_lm(), "now")
    assert len(cache) == 1


def test_a_rejected_reply_leaves_no_trace(make_lm, stub, cache):
    lm = make_lm()
    with deferred_cache() as pending:
        chat(lm, "rejected")
        assert len(pending) == 1 and len(cache) == 0
    assert len(cache) == 0
    chat(lm, "rejected")  # asked again: not a cache hit
    assert stub.stats()["requests"] == 2


def test_commit_writes_and_later_puts_wait_for_the_next_commit(make_lm, stub, cache):
    lm = make_lm()
    with deferred_cache() as pending:
        chat(lm, "accepted")
        assert pending.commit() == 1 and len(cache) == 1
        chat(lm, "after the commit")
    assert len(cache) == 1
    assert chat(lm, "accepted").cache_hit is True


def test_a_repeated_call_inside_the_block_hits_the_held_reply(make_lm, stub, ledger):
    lm = make_lm()
    with deferred_cache():
        chat(lm, "twice")
        assert chat(lm, "twice").cache_hit is True
    assert stub.stats()["requests"] == 1 and ledger.summary()["roles"]["strong"]["cache_hits"] == 1


def test_nested_blocks_commit_into_the_enclosing_one(make_lm, cache):
    lm = make_lm()
    with deferred_cache() as outer:
        with deferred_cache() as inner:
            chat(lm, "inner")
            inner.commit()
        assert len(outer) == 1 and len(cache) == 0
        with deferred_cache():
            chat(lm, "inner, rejected")
        assert len(outer) == 1
        outer.commit()
    assert len(cache) == 1


def test_outer_discard_drops_what_inner_blocks_committed(make_lm, cache):
    lm = make_lm()
    with deferred_cache():
        with deferred_cache() as inner:
            chat(lm, "inner")
            inner.commit()
    assert len(cache) == 0


def test_worker_threads_with_copied_context_share_the_block(make_lm, cache):
    lm = make_lm()
    with deferred_cache() as pending:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(contextvars.copy_context().run, chat, lm, f"q{i}") for i in range(8)]
            [f.result() for f in futures]
        assert len(pending) == 8 and len(cache) == 0
        pending.commit()
    assert len(cache) == 8


def test_threads_without_the_context_write_at_once(make_lm, cache):
    lm = make_lm()
    with deferred_cache() as pending:
        thread = threading.Thread(target=chat, args=(lm, "plain thread"))  # a new thread starts with no context
        thread.start()
        thread.join()
        assert len(pending) == 0 and len(cache) == 1


def test_a_step_that_rejects_the_parse_keeps_nothing(make_lm, stub, cache):
    """The way steps use it: one block per attempt, commit only after validation."""
    lm = make_lm()
    predict = dspy.Predict("question -> answer: int")
    stub.responder = lambda body: "[[ ## answer ## ]]\nnot a number\n\n[[ ## completed ## ]]"
    with dspy.context(lm=lm), deferred_cache() as pending:
        with pytest.raises(dspy.utils.exceptions.AdapterParseError):
            predict(question="how many?")
        assert len(pending) >= 1
    assert len(cache) == 0
